// Network namespaces bound to files: made with lo up, listed, removed idempotently. Needs root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createNetns, listNetns, removeNetns } from '../../guest-agent/network/netns.js';
import { run } from '../../guest-agent/util/subprocess.js';

let dir: string;

function mounted(file: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === file);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-netns-test-'));
});
after(async () => {
  for (const f of await listNetns(dir)) await removeNetns(f);
  await fs.rm(dir, { recursive: true, force: true });
});

test('createNetns makes a namespace with only lo, and it is up', async (t) => {
  const ns = path.join(dir, 'one');
  await createNetns(ns);
  t.after(() => removeNetns(ns));
  assert.ok(mounted(ns));
  const links = (await run('nsenter', [`--net=${ns}`, 'ip', '-o', 'link', 'show'])).stdout.trim().split('\n');
  assert.equal(links.length, 1, links.join('\n'));
  assert.match(links[0], /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  // A different namespace from ours: loopback is reachable inside it.
  const own = await fs.readlink('/proc/self/ns/net');
  const inner = (await run('nsenter', [`--net=${ns}`, 'readlink', '/proc/self/ns/net'])).stdout.trim();
  assert.notEqual(inner, own);
  const ping = await run('nsenter', [`--net=${ns}`, 'ip', '-o', 'addr', 'show', 'lo']);
  assert.match(ping.stdout, /inet 127\.0\.0\.1\/8/);
});

test('listNetns lists the files; removeNetns unmounts, deletes and is idempotent', async () => {
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  await createNetns(a);
  await createNetns(b);
  assert.deepEqual(await listNetns(dir), [a, b]);
  await removeNetns(a);
  assert.equal(mounted(a), false);
  assert.equal(existsSync(a), false);
  await removeNetns(a); // already gone
  assert.deepEqual(await listNetns(dir), [b]);
  await removeNetns(b);
  assert.deepEqual(await listNetns(dir), []);
  assert.deepEqual(await listNetns(path.join(dir, 'missing')), []);
});

test('createNetns refuses a path that already holds a namespace', async (t) => {
  const ns = path.join(dir, 'dup');
  await createNetns(ns);
  t.after(() => removeNetns(ns));
  await assert.rejects(createNetns(ns), /already exists/);
  assert.ok(mounted(ns));
});

test('removeNetns removes a leftover file that is not mounted', async () => {
  const f = path.join(dir, 'stale');
  await fs.writeFile(f, '');
  await removeNetns(f);
  assert.equal(existsSync(f), false);
});
