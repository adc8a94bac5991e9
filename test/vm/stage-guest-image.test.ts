// Packaging: scripts/stage-guest-image.mjs puts a built guest image where electron-builder packs it
// (dist/guest-image/<arch>), and a VM inside the app boots that one (BERTH_BUNDLED_IMAGES, set by the
// app's `berth` launcher, or Electron's resources folder) before anything in the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { findImage } from '../../vm/image/build-image.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');
const stage = (args: string[], cache = VM_TEST_CACHE) =>
  run(process.execPath, [path.join(repoRoot, 'scripts', 'stage-guest-image.mjs'), ...args], {
    env: { PATH: process.env.PATH, BERTH_CACHE: cache },
    allowFailure: true,
    timeoutMs: 120_000,
  });

test('stages the files the manifest names, and the app boots the staged image first', async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'berth-staged-'));
  recordForSweep(out);
  t.after(() => fs.rm(out, { recursive: true, force: true }));
  const r = await stage(['--no-build', '--arch', 'x86_64', '--out', out]);
  assert.equal(r.exitCode, 0, r.stderr);
  const cached = await findImage('x86_64', VM_TEST_CACHE);
  assert.ok(cached, 'the test image is built by the suite setup');
  const names = (await fs.readdir(path.join(out, 'x86_64'))).sort();
  assert.deepEqual(
    names,
    [
      'initramfs.img',
      'manifest.json',
      cached.manifest.kernelFile ?? 'vmlinuz',
      cached.manifest.rootDiskFile!,
    ].sort(),
  );
  for (const n of names)
    assert.equal(statSync(path.join(out, 'x86_64', n)).size, statSync(path.join(cached.dir, n)).size, n);
  assert.match(r.stdout, new RegExp(`x86_64 \\(${cached.manifest.contentHash.slice(0, 12)}\\)`));

  // Inside the app: the bundled image wins over a cache that has one too (or has none).
  process.env.BERTH_BUNDLED_IMAGES = out;
  try {
    assert.equal((await findImage('x86_64', VM_TEST_CACHE))?.dir, path.join(out, 'x86_64'));
    assert.equal((await findImage('x86_64', path.join(out, 'no-cache')))?.dir, path.join(out, 'x86_64'));
  } finally {
    delete process.env.BERTH_BUNDLED_IMAGES;
  }
  assert.equal((await findImage('x86_64', VM_TEST_CACHE))?.dir, cached.dir);
});

test('says what to do when there is nothing to stage', async (t) => {
  const empty = mkdtempSync(path.join(tmpdir(), 'berth-empty-cache-'));
  recordForSweep(empty);
  t.after(() => fs.rm(empty, { recursive: true, force: true }));
  const r = await stage(['--no-build', '--arch', 'aarch64', '--out', path.join(empty, 'out')], empty);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /no aarch64 image in .*: run `berth vm build-image --arch aarch64`/);
  const bad = await stage(['--no-build', '--arch', 'riscv64', '--out', path.join(empty, 'out')], empty);
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /unknown architecture "riscv64": use x86_64 or aarch64/);
});
