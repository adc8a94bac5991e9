// The fluentd driver against a forward-protocol receiver on loopback: records, tag, ack, buffer and
// reconnection.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import { createLogDriver, type LogDriverContext } from '../../guest-agent/logs/log-driver.js';
import { LineSplitter } from '../../guest-agent/logs/line-splitter.js';
import type { LogDriver } from '../../guest-agent/logs/log-types.js';
import { readJsonFileLogs } from '../../guest-agent/logs/json-file-reader.js';
import { FluentdReceiver } from '../helpers/fluentd-receiver.js';

const ID = 'ab'.repeat(32);
const IMAGE = `sha256:${'cd'.repeat(32)}`;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-fluentd-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function ctx(dir: string): LogDriverContext {
  return {
    containerId: ID,
    logPath: join(dir, `${ID}-json.log`),
    container: {
      id: ID,
      name: '/web',
      imageId: IMAGE,
      imageName: 'busybox:latest',
      entrypoint: 'sh',
      args: ['-c', 'true'],
      env: ['PATH=/bin', 'REGION=eu'],
      labels: { app: 'shop', 'com.example.tier': 'front' },
    },
  };
}

async function receiver(t: TestContext): Promise<FluentdReceiver> {
  const r = new FluentdReceiver();
  await r.start();
  t.after(() => r.stop());
  return r;
}

function closeAfter(t: TestContext, d: LogDriver): LogDriver {
  t.after(() => d.close());
  return d;
}

test('records carry dockerd keys, the default tag is the short id, time in whole seconds', async (t) => {
  const r = await receiver(t);
  const dir = tempDir(t);
  const d = closeAfter(t, await createLogDriver('fluentd', { 'fluentd-address': r.address }, ctx(dir)));
  const out = new LineSplitter('stdout', (m) => d.log(m));
  const err = new LineSplitter('stderr', (m) => d.log(m));
  out.write(Buffer.from('hello\n'));
  err.write(Buffer.from('oops\n'));
  const got = await r.waitFor(2);
  assert.deepEqual(
    got.map((g) => [g.tag, g.record]),
    [
      [ID.slice(0, 12), { container_id: ID, container_name: '/web', source: 'stdout', log: 'hello' }],
      [ID.slice(0, 12), { container_id: ID, container_name: '/web', source: 'stderr', log: 'oops' }],
    ],
  );
  assert.equal(typeof got[0]!.time, 'number');
  assert.ok(Math.abs((got[0]!.time as number) - Date.now() / 1000) < 5);
  assert.equal(got[0]!.option?.['chunk'], undefined, 'no ack asked for');
});

test('tag templates, labels and env, sub-second EventTime, and partial_* keys for split lines', async (t) => {
  const r = await receiver(t);
  const dir = tempDir(t);
  const d = closeAfter(
    t,
    await createLogDriver(
      'fluentd',
      {
        'fluentd-address': r.address.replace('tcp://', ''),
        tag: 'docker.{{.Name}}.{{.ImageName}}.{{.ImageID}}.{{.FullID | truncate 4}}',
        labels: 'app,missing',
        env: 'REGION',
        'fluentd-sub-second-precision': 'true',
      },
      ctx(dir),
    ),
  );
  const split = new LineSplitter('stdout', (m) => d.log(m), 8);
  split.write(Buffer.from('0123456789abcdefXY\nshort\n'));
  const got = await r.waitFor(4);
  assert.equal(got[0]!.tag, `docker.web.busybox:latest.${'cd'.repeat(6)}.abab`);
  const t0 = got[0]!.time as { sec: number; nsec: number };
  assert.ok(typeof t0 === 'object' && t0.sec > 1.7e9 && t0.nsec >= 0 && t0.nsec < 1e9, JSON.stringify(t0));
  const pieces = got.slice(0, 3).map((g) => g.record);
  const id = pieces[0]!['partial_id'];
  assert.match(String(id), /^[0-9a-f]{64}$/);
  assert.deepEqual(
    pieces.map((p) => [
      p['log'],
      p['partial_message'],
      p['partial_id'],
      p['partial_ordinal'],
      p['partial_last'],
    ]),
    [
      ['01234567', 'true', id, '1', 'false'],
      ['89abcdef', 'true', id, '2', 'false'],
      ['XY', 'true', id, '3', 'true'],
    ],
  );
  assert.deepEqual(got[3]!.record, {
    container_id: ID,
    container_name: '/web',
    source: 'stdout',
    log: 'short',
    app: 'shop',
    REGION: 'eu',
  });
});

test('fluentd-request-ack: every record asks for an ack and the receiver answers it', async (t) => {
  const r = await receiver(t);
  const dir = tempDir(t);
  const d = await createLogDriver(
    'fluentd',
    { 'fluentd-address': r.address, 'fluentd-request-ack': 'true' },
    ctx(dir),
  );
  const out = new LineSplitter('stdout', (m) => d.log(m));
  for (let i = 0; i < 20; i++) out.write(Buffer.from(`line ${i}\n`));
  await r.waitFor(20);
  await d.close();
  assert.equal(d.backlogBytes, 0, 'every record was acked before close');
  assert.ok(r.records.every((g) => typeof g.option?.['chunk'] === 'string'));
  assert.equal(new Set(r.acked).size, 20);
});

test('without fluentd-async an unreachable server fails the start with a dial error', async (t) => {
  const r = new FluentdReceiver();
  await r.start();
  const port = r.port;
  await r.stop();
  const dir = tempDir(t);
  await assert.rejects(
    createLogDriver('fluentd', { 'fluentd-address': `127.0.0.1:${port}` }, ctx(dir)),
    (e: unknown) =>
      e instanceof EngineError &&
      e.message ===
        `failed to initialize logging driver: dial tcp 127.0.0.1:${port}: connect: connection refused`,
  );
  await assert.rejects(
    createLogDriver('fluentd', { 'fluentd-address': `unix://${dir}/nothing.sock` }, ctx(dir)),
    /failed to initialize logging driver: dial unix .*nothing\.sock: connect: no such file or directory/,
  );
});

test('fluentd-async: lines wait for a server that is down, then all arrive in order', async (t) => {
  const r = new FluentdReceiver();
  await r.start();
  await r.stop(); // a port that nothing listens on, until later
  t.after(() => r.stop());
  const dir = tempDir(t);
  const d = closeAfter(
    t,
    await createLogDriver(
      'fluentd',
      { 'fluentd-address': r.address, 'fluentd-async': 'true', 'fluentd-retry-wait': '100ms' },
      ctx(dir),
    ),
  );
  const out = new LineSplitter('stdout', (m) => d.log(m));
  for (let i = 0; i < 50; i++) out.write(Buffer.from(`early ${i}\n`));
  await new Promise((res) => setTimeout(res, 300));
  assert.ok((d.backlogBytes ?? 0) > 0, 'lines are buffered');
  await r.start();
  await r.waitFor(50);
  assert.deepEqual(
    r.lines(),
    Array.from({ length: 50 }, (_, i) => `early ${i}`),
  );
});

test('fluentd-async with acks: a receiver restart loses no line', async (t) => {
  const r = await receiver(t);
  const dir = tempDir(t);
  const d = closeAfter(
    t,
    await createLogDriver(
      'fluentd',
      {
        'fluentd-address': r.address,
        'fluentd-async': 'true',
        'fluentd-request-ack': 'true',
        'fluentd-retry-wait': '100ms',
      },
      ctx(dir),
    ),
  );
  const out = new LineSplitter('stdout', (m) => d.log(m));
  let n = 0;
  const writer = setInterval(() => out.write(Buffer.from(`line ${n++}\n`)), 5);
  t.after(() => clearInterval(writer));
  await r.waitFor(20);
  await r.stop();
  await new Promise((res) => setTimeout(res, 400));
  await r.start();
  await new Promise((res) => setTimeout(res, 200));
  clearInterval(writer);
  const total = n;
  await r.waitFor(total, 15_000);
  const seen = new Set(r.lines());
  const missing = Array.from({ length: total }, (_, i) => `line ${i}`).filter((l) => !seen.has(l));
  assert.deepEqual(missing, [], `of ${total} lines`);
});

test('fluentd-buffer-limit: past the limit lines are dropped and counted, earlier ones kept', async (t) => {
  const r = new FluentdReceiver();
  await r.start();
  await r.stop();
  t.after(() => r.stop());
  const dir = tempDir(t);
  const d = closeAfter(
    t,
    await createLogDriver(
      'fluentd',
      {
        'fluentd-address': r.address,
        'fluentd-async': 'true',
        'fluentd-buffer-limit': '4k',
        'fluentd-retry-wait': '100ms',
        'cache-disabled': 'true',
      },
      ctx(dir),
    ),
  );
  const out = new LineSplitter('stdout', (m) => d.log(m));
  for (let i = 0; i < 200; i++) out.write(Buffer.from(`${String(i).padStart(3, '0')} ${'x'.repeat(100)}\n`));
  assert.ok((d.backlogBytes ?? 0) <= 4096);
  await r.start();
  await r.waitFor(5);
  await new Promise((res) => setTimeout(res, 300));
  await d.close();
  const got = r.lines().map((l) => l.slice(0, 3));
  assert.ok(got.length > 5 && got.length < 40, `${got.length} lines kept of 200 with a 4 KiB buffer`);
  assert.deepEqual(
    got,
    Array.from({ length: got.length }, (_, i) => String(i).padStart(3, '0')),
    'the first ones',
  );
});

test('dual logging: fluentd lines are also readable from the local cache, unless cache-disabled', async (t) => {
  const r = await receiver(t);
  const dir = tempDir(t);
  const d = await createLogDriver('fluentd', { 'fluentd-address': r.address, labels: 'app' }, ctx(dir));
  assert.equal(d.readable, true);
  const out = new LineSplitter('stdout', (m) => d.log(m));
  out.write(Buffer.from('one\ntwo\n'));
  await r.waitFor(2);
  await d.close();
  const cache = join(dir, 'container-cached.log');
  const got: string[] = [];
  const stopped = { isRunning: () => false, onWrite: () => () => undefined };
  for await (const m of readJsonFileLogs(cache, { stdout: true, stderr: true, follow: false }, stopped)) {
    got.push(`${m.line.toString()}|${JSON.stringify(m.attrs)}`);
  }
  assert.deepEqual(got, ['one\n|[{"key":"app","value":"shop"}]', 'two\n|[{"key":"app","value":"shop"}]']);
  assert.match(readFileSync(cache, 'utf8'), /"attrs":\{"app":"shop"\}/);

  const dir2 = tempDir(t);
  const off = await createLogDriver(
    'fluentd',
    { 'fluentd-address': r.address, 'cache-disabled': 'true' },
    ctx(dir2),
  );
  assert.equal(off.readable, false);
  off.log({ stream: 'stdout', line: Buffer.from('x\n'), timeNs: 1n });
  await off.close();
  assert.equal(existsSync(join(dir2, 'container-cached.log')), false);
});
