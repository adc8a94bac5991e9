// crun gets Docker's seccomp profile precompiled after the first start, and a
// container started that way is filtered as before; a bad kept filter costs one
// retry, never a failed start. Real crun (as the engine runs it on this host).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildOciSpec, type OciSpec } from '../../guest-agent/runtime/oci-spec.js';
import { OciRuntime } from '../../guest-agent/runtime/oci-runtime.js';
import { chooseRuntime } from '../../guest-agent/runtime/runtime-probe.js';
import { SECCOMP_BPF_ANNOTATION, SeccompBpfCache } from '../../guest-agent/runtime/seccomp-bpf-cache.js';
import { readAll } from '../helpers/streams.js';
import { plainSpecInput, rootExec } from '../helpers/oci-process.js';

let work: string;
let rootfs: string;
let runtime: OciRuntime;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-seccomp-test-'));
  rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp'])
    await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'grep', 'unshare', 'sleep', 'echo'])
    await fs.symlink('busybox', path.join(rootfs, 'bin', a));
  const chosen = await chooseRuntime('crun', path.join(work, 'state'), { probeCache: null });
  runtime = chosen.runtime;
  assert.equal(runtime.name, 'crun');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const cacheDir = () => `${runtime.stateRoot}.seccomp`;

function spec(id: string, args: string[]): OciSpec {
  return buildOciSpec(plainSpecInput(id, rootfs, args));
}

/** Runs `script` in a fresh container through `rt`; its output and the config.json it ran with. */
async function runScript(rt: OciRuntime, script: string) {
  const id = `berth-seccomp-${randomBytes(5).toString('hex')}`;
  const bundle = path.join(work, id);
  await fs.mkdir(bundle);
  try {
    await rt.writeConfig(bundle, spec(id, ['sh', '-c', script]));
    const p = await rt.start(id, bundle, { tty: false, stdin: false });
    const [stdout, { exitCode }] = await Promise.all([readAll(p.stdout), p.exited]);
    const config = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as OciSpec;
    return { stdout, exitCode, precompiled: Boolean(config.annotations?.[SECCOMP_BPF_ANNOTATION]) };
  } finally {
    await rt.delete(id, true);
    await fs.rm(bundle, { recursive: true, force: true });
  }
}

async function keptFilters(): Promise<string[]> {
  return (await fs.readdir(cacheDir()).catch(() => [] as string[])).filter((f) => f.endsWith('.bpf'));
}

async function waitForKeptFilter(): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const files = await keptFilters();
    if (files.length > 0) return path.join(cacheDir(), files[0]);
    assert.ok(Date.now() < deadline, 'crun never compiled the profile for later starts');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const FILTERED = 'grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?';

test('the first start compiles, later ones get the filter precompiled and are filtered the same', async () => {
  const first = await runScript(runtime, FILTERED);
  assert.equal(first.precompiled, false);
  assert.match(first.stdout, /Seccomp:\s+2/);
  assert.match(first.stdout, /unshare=[1-9]/);

  const kept = await waitForKeptFilter();
  const size = (await fs.stat(kept)).size;
  assert.ok(size > 0 && size % 8 === 0, `a BPF program is whole 8-byte instructions, got ${size} bytes`);

  const second = await runScript(runtime, FILTERED);
  assert.equal(second.precompiled, true);
  assert.equal(second.exitCode, 0);
  assert.match(second.stdout, /Seccomp:\s+2/);
  assert.match(second.stdout, /unshare=[1-9]/, 'the precompiled filter still blocks unshare');
  // Nothing of the compile is left behind (its clean-up follows the kept filter by a moment).
  const compileDirs = async () =>
    (await fs.readdir(`${runtime.stateRoot}.exec`)).filter((f) => f.startsWith('seccomp-'));
  const deadline = Date.now() + 5000;
  while ((await compileDirs()).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await compileDirs(), []);
});

test('an exec in a container started with the precompiled filter is filtered too', async () => {
  await waitForKeptFilter();
  const id = `berth-seccomp-${randomBytes(5).toString('hex')}`;
  const bundle = path.join(work, id);
  await fs.mkdir(bundle);
  try {
    await runtime.writeConfig(bundle, spec(id, ['sleep', '100']));
    const p = await runtime.start(id, bundle, { tty: false, stdin: false });
    const config = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as OciSpec;
    assert.ok(config.annotations?.[SECCOMP_BPF_ANNOTATION]);
    const e = await runtime.exec(id, rootExec(['sh', '-c', FILTERED]), { tty: false, stdin: false });
    const out = await readAll(e.stdout);
    assert.match(out, /Seccomp:\s+2/);
    assert.match(out, /unshare=[1-9]/);
    await runtime.kill(id, 'KILL');
    await p.exited;
  } finally {
    await runtime.delete(id, true);
    await fs.rm(bundle, { recursive: true, force: true });
  }
});

test('a kept filter the kernel refuses costs one retry: the start succeeds, filtered, and the filter is dropped', async () => {
  const kept = await waitForKeptFilter();
  // One BPF instruction with no return: the kernel rejects the program.
  await fs.writeFile(kept, Buffer.alloc(8));
  // A fresh engine reads the kept filter from disk.
  const fresh = (await chooseRuntime('crun', runtime.stateRoot, { probeCache: null })).runtime;
  const r = await runScript(fresh, FILTERED);
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /Seccomp:\s+2/);
  assert.match(r.stdout, /unshare=[1-9]/);
  assert.equal(r.precompiled, false, 'the retry ran with the profile compiled afresh');
  assert.notDeepEqual(await fs.readFile(kept).catch(() => Buffer.alloc(0)), Buffer.alloc(8));
});

test('the cache key follows the profile and the runtime build; implausible files are not used', async () => {
  const dir = path.join(work, 'keys');
  const a = new SeccompBpfCache(dir, 'crun-1.8.1');
  const b = new SeccompBpfCache(dir, 'crun-1.9');
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  };
  assert.equal(a.keyOf(undefined), undefined);
  assert.equal(a.keyOf(profile), a.keyOf(structuredClone(profile)));
  assert.notEqual(a.keyOf(profile), b.keyOf(profile));
  assert.notEqual(a.keyOf(profile), a.keyOf({ ...profile, defaultAction: 'SCMP_ACT_KILL' }));

  const key = a.keyOf(profile)!;
  await fs.mkdir(dir, { recursive: true });
  for (const bad of [Buffer.alloc(0), Buffer.alloc(12), Buffer.alloc(8 * 4097)]) {
    await fs.writeFile(path.join(dir, `${key}.bpf`), bad);
    assert.equal(await new SeccompBpfCache(dir, 'crun-1.8.1').lookup(key), undefined);
  }
  const good = randomBytes(64);
  const compiled = path.join(work, 'compiled.bpf');
  await fs.writeFile(compiled, good);
  await a.remember(key, compiled);
  assert.equal(await a.lookup(key), good.toString('base64'));
  assert.equal(await new SeccompBpfCache(dir, 'crun-1.8.1').lookup(key), good.toString('base64'));
  await a.forget(key);
  assert.equal(await new SeccompBpfCache(dir, 'crun-1.8.1').lookup(key), undefined);
  assert.equal(await a.lookup(key), undefined);
});
