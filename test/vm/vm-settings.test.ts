// `berth vm settings`: the VM's settings in $BERTH_HOME/settings.json, shown
// with where each comes from, changed with set (checked, all or nothing, the
// desktop's own keys in the same file kept), and a bad file said clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { parseVmSetting, vmSettingsErrors } from '../../common/vm-settings.js';
import { VM_TEST_CACHE } from '../fixtures/vm-image.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');

function berth(home: string, args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
    env: { PATH: process.env.PATH, BERTH_HOME: home, BERTH_CACHE: VM_TEST_CACHE, ...env },
    allowFailure: true,
    timeoutMs: 60_000,
  });
}

function tempHome(t: test.TestContext): string {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-settings-'));
  t.after(() => fs.rm(home, { recursive: true, force: true }));
  return home;
}

test('vm settings: defaults, set with units, get, and the file as written', async (t) => {
  const home = tempHome(t);
  const shown = await berth(home, ['vm', 'settings']);
  assert.equal(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, /^memoryMiB\s+2048\s+\(default\)$/m);
  assert.match(shown.stdout, /^accel\s+auto\s+\(default\)$/m);

  const folder = mkdtempSync(path.join(tmpdir(), 'berth-settings-share-'));
  t.after(() => fs.rm(folder, { recursive: true, force: true }));
  const set = await berth(home, [
    'vm',
    'settings',
    'set',
    'cpus=1',
    'memoryMiB=1G',
    'diskGiB=10',
    `sharedFolders=${folder}`,
    'accel=tcg',
  ]);
  assert.equal(set.exitCode, 0, set.stderr);
  assert.equal(set.stdout.trim(), 'saved');
  assert.deepEqual(JSON.parse(await fs.readFile(path.join(home, 'settings.json'), 'utf8')), {
    cpus: 1,
    memoryMiB: 1024,
    diskGiB: 10,
    sharedFolders: [folder],
    accel: 'tcg',
  });
  assert.equal((await berth(home, ['vm', 'settings', 'get', 'memoryMiB'])).stdout, '1024\n');
  const after = await berth(home, ['vm', 'settings']);
  assert.match(after.stdout, /^cpus\s+1\s+\(settings\.json\)$/m);
  assert.match(after.stdout, new RegExp(`^sharedFolders\\s+${folder}\\s+\\(settings\\.json\\)$`, 'm'));
  // The environment wins, and says so.
  const env = await berth(home, ['vm', 'settings'], { BERTH_ACCEL: 'kvm' });
  assert.match(env.stdout, /^accel\s+kvm\s+\(BERTH_ACCEL\)$/m);

  // An empty value goes back to the default.
  assert.equal((await berth(home, ['vm', 'settings', 'set', 'accel='])).exitCode, 0);
  assert.equal((await berth(home, ['vm', 'settings', 'get', 'accel'])).stdout, 'auto\n');
});

test('vm settings: bad values are refused with what is wrong, and nothing is written', async (t) => {
  const home = tempHome(t);
  await fs.writeFile(path.join(home, 'settings.json'), JSON.stringify({ theme: 'dark', cpus: 1 }));
  const cases: Array<[string[], RegExp]> = [
    [['cpus=0'], /cpus: 0 is not a whole number from 1 to 128/],
    [['cpus=100'], /cpus: 100 is more than this host has/],
    [['memoryMiB=lots'], /memoryMiB: "lots" is not a size/],
    [['diskGiB=2'], /diskGiB: 2 is not a whole number from 8 to 2048/],
    [['accel=fast'], /accel: "fast": use auto, kvm, hvf, whpx, tcg/],
    [['sharedFolders=relative/dir'], /sharedFolders: "relative\/dir" is not an absolute path/],
    [['sharedFolders=/no/such/folder'], /sharedFolders: \/no\/such\/folder does not exist/],
    [['colour=blue'], /colour: not a setting/],
    [['cpus'], /cpus: expected key=value/],
    // All or nothing: the good one is not written either.
    [['memoryMiB=1024', 'cpus=0'], /cpus: 0/],
  ];
  for (const [args, message] of cases) {
    const r = await berth(home, ['vm', 'settings', 'set', ...args]);
    assert.equal(r.exitCode, 1, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
  // The desktop's own key is kept; nothing bad was written.
  assert.deepEqual(JSON.parse(await fs.readFile(path.join(home, 'settings.json'), 'utf8')), {
    theme: 'dark',
    cpus: 1,
  });
  assert.equal((await berth(home, ['vm', 'settings', 'set', 'cpus=1', 'memoryMiB=1024'])).exitCode, 0);
  assert.deepEqual(JSON.parse(await fs.readFile(path.join(home, 'settings.json'), 'utf8')), {
    theme: 'dark',
    cpus: 1,
    memoryMiB: 1024,
  });
});

test('vm settings: a damaged file is an error naming it, for settings and for start', async (t) => {
  const home = tempHome(t);
  const file = path.join(home, 'settings.json');
  await fs.writeFile(file, '{"cpus": 2,');
  const shown = await berth(home, ['vm', 'settings']);
  assert.equal(shown.exitCode, 1);
  assert.match(shown.stderr, new RegExp(`${file}: .*JSON`));
  await fs.writeFile(file, JSON.stringify({ cpus: 'many' }));
  const start = await berth(home, ['vm', 'start'], { BERTH_ACCEL: 'tcg' });
  assert.equal(start.exitCode, 1);
  assert.match(start.stderr, new RegExp(`${file}: cpus: "many" is not a whole number`));
});

test('vm settings: the disk never shrinks', async (t) => {
  const home = tempHome(t);
  await fs.mkdir(path.join(home, 'vm'));
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(home, 'vm', 'data.qcow2'), '20G']);
  const r = await berth(home, ['vm', 'settings', 'set', 'diskGiB=10']);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /diskGiB: the disk is already 20 GiB and cannot shrink/);
  assert.equal((await berth(home, ['vm', 'settings', 'set', 'diskGiB=30'])).exitCode, 0);
});

test('vm settings: the checks the dashboard shares', () => {
  assert.deepEqual(vmSettingsErrors({ theme: 'dark', cpus: 2, sharedFolders: ['C:\\Users\\me'] }), []);
  assert.deepEqual(vmSettingsErrors([]), ['the settings are not a JSON object']);
  assert.deepEqual(vmSettingsErrors({ memoryMiB: 256, shareType: 'nfs' }), [
    'memoryMiB: 256 is not a whole number from 512 to 1048576',
    'shareType: "nfs": use auto, virtiofs, 9p',
  ]);
  assert.equal(parseVmSetting('diskGiB', '512G'), 512);
  assert.equal(parseVmSetting('memoryMiB', '1.5G'), 1536);
  assert.deepEqual(parseVmSetting('sharedFolders', 'none'), []);
  assert.equal(parseVmSetting('cpus', ''), undefined);
  assert.throws(() => parseVmSetting('diskGiB', '1.7G'), /"1.7G" is not a size/);
  assert.throws(() => parseVmSetting('diskGiB', '3T'), /from 8 to 2048/);
});
