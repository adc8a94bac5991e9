// The aarch64 guest (what Apple silicon Macs run, there under hvf): its image
// built from Debian's arm64 packages (test/fixtures/prepare.ts builds it before
// the suite's network namespace, with the x86_64 one), then booted here on
// x86_64 under qemu-system-aarch64 with TCG to a ready engine that the docker
// CLI reaches through the host socket and that runs an arm64 busybox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';
import { processAlive } from '../../vm/state.js';
import type { ImageManifest } from '../../vm/image/build-image.js';
import { docker } from '../helpers/docker.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { VM_TEST_CACHE, busyboxArm64Archive } from '../fixtures/vm-image.js';
import { assertOkInVm } from '../helpers/vm-console.js';

const repoRoot = path.join(import.meta.dirname, '..', '..');
/** Emulating arm64 on x86_64 is several times slower than the x86_64 guest under TCG. */
const BOOT_LIMIT_MS = 600_000;

test(
  'aarch64 guest: arm64 image, booted under TCG to an engine that runs arm64 containers',
  { timeout: 900_000 },
  async (t) => {
    const home = mkdtempSync(path.join(tmpdir(), 'berth-vm-aarch64-'));
    recordForSweep(home);
    const berth = (args: string[]) =>
      run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
        env: {
          BERTH_HOME: home,
          BERTH_CACHE: VM_TEST_CACHE,
          BERTH_ARCH: 'aarch64',
          BERTH_ACCEL: 'tcg',
          BERTH_SHARES: '',
        },
        allowFailure: true,
        timeoutMs: BOOT_LIMIT_MS + 60_000,
      });
    t.after(async () => {
      await berth(['vm', 'stop']);
      const state = JSON.parse(
        await fs.readFile(path.join(home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
      ) as { pid?: number; qemuPid?: number };
      for (const pid of [state.pid, state.qemuPid])
        if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
      await fs.rm(home, { recursive: true, force: true });
    });
    const engine = { host: `unix://${path.join(home, 'docker.sock')}` };

    // The architecture is checked; the image the fixtures built is up to date (no download: this runs offline).
    const bad = await berth(['vm', 'build-image', '--arch', 'sparc']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /--arch: sparc is not a guest architecture; use x86_64 or aarch64/);
    const again = await berth(['vm', 'build-image', '--arch', 'aarch64']);
    assert.equal(again.exitCode, 0, `${again.stdout}${again.stderr}`);
    assert.match(again.stdout, /^up to date: \S+\/images\/aarch64 \(content [0-9a-f]{16}\)$/m);

    // What went in: Debian's arm64 kernel booted as its Image (arm64 magic at 0x38), arm64 Node.
    const imageDir = path.join(VM_TEST_CACHE, 'images', 'aarch64');
    const manifest = JSON.parse(
      await fs.readFile(path.join(imageDir, 'manifest.json'), 'utf8'),
    ) as ImageManifest;
    assert.equal(manifest.arch, 'aarch64');
    assert.equal(manifest.kernelFile, 'Image');
    assert.match(manifest.kernelVersion, /-arm64$/);
    assert.ok(manifest.packages.nodejs, 'Node from the arm64 nodejs package');
    const kernelHead = Buffer.alloc(64);
    const fh = await fs.open(path.join(imageDir, 'Image'));
    await fh.read(kernelHead, 0, 64, 0);
    await fh.close();
    assert.equal(kernelHead.subarray(0x38, 0x3c).toString('latin1'), 'ARM\x64');

    const started = Date.now();
    const start = await berth(['vm', 'start']);
    const wallMs = Date.now() - started;
    assert.equal(start.exitCode, 0, `${start.stdout}${start.stderr}`);
    const status = await berth(['vm', 'status']);
    const booted = /^running \(tcg, booted in ([\d.]+) s\)/m.exec(status.stdout);
    assert.ok(booted, status.stdout);
    t.diagnostic(
      `aarch64 under TCG: engine ready ${booted[1]} s after QEMU started (${(wallMs / 1000).toFixed(1)} s for berth vm start)`,
    );

    // The engine answers the stock docker CLI through the host socket, as an arm64 engine.
    const version = await docker(engine, [
      'version',
      '--format',
      '{{.Server.Os}}/{{.Server.Arch}} {{.Server.APIVersion}}',
    ]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), 'linux/arm64 1.47');
    const load = await docker(engine, ['load', '-i', await busyboxArm64Archive()], { timeoutMs: 300_000 });
    await assertOkInVm(load, home);
    assert.match(load.stdout, /^Loaded image: busybox:latest$/m);
    const echo = await docker(engine, ['run', '--rm', 'busybox', 'echo', 'hi'], { timeoutMs: 300_000 });
    await assertOkInVm(echo, home);
    assert.equal(echo.stdout, 'hi\n');
    const uname = await docker(engine, ['run', '--rm', 'busybox', 'uname', '-m'], { timeoutMs: 300_000 });
    assert.equal(uname.code, 0, uname.stderr);
    assert.equal(uname.stdout, 'aarch64\n');

    // A terminal in the guest: node-pty, cross-built for arm64, loads in its Node.
    const tty = await berth(['vm', 'ssh', '-t', '--', 'tty']);
    assert.equal(tty.exitCode, 0, tty.stderr);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r?\n$/);
    // A container's terminal: crun sends it to the engine through Berth's own addon, cross-built too.
    const ttyRun = await docker(
      engine,
      ['run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty; echo in-a-terminal'],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(ttyRun.code, 0, ttyRun.stderr);
    assert.equal(ttyRun.stdout, '/dev/pts/0\r\nin-a-terminal\r\n');

    const stop = await berth(['vm', 'stop']);
    assert.equal(stop.exitCode, 0, `${stop.stdout}${stop.stderr}`);
    assert.match((await berth(['vm', 'status'])).stdout, /^stopped$/m);
  },
);
