// One engine per data root, and a lock left behind by a crash never keeps the
// next engine out, even when its pid now names another live process (a VM
// boots the same way each time, so after a guest panic it often does).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireDataRootLock } from '../../guest-agent/engine/data-root-lock.js';

describe('data root lock', () => {
  let dir: string;
  const bystander = spawn('sleep', ['600'], { stdio: 'ignore' });
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-lock-'));
  });
  after(async () => {
    bystander.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  });
  const lockFile = () => path.join(dir, 'engine.pid');
  const bootId = async () => (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  const startTime = async (pid: number) => {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  };

  it('is taken when free, and names this process', async () => {
    await acquireDataRootLock(dir);
    const owner = JSON.parse(await fs.readFile(lockFile(), 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.bootId, await bootId());
    await fs.rm(lockFile());
  });

  it('refuses while its live owner holds it', async () => {
    const pid = bystander.pid!;
    await fs.writeFile(
      lockFile(),
      JSON.stringify({ pid, bootId: await bootId(), startTime: await startTime(pid) }),
    );
    await assert.rejects(
      acquireDataRootLock(dir),
      new RegExp(`another Berth engine \\(pid ${pid}\\) is already using`),
    );
    await fs.rm(lockFile());
  });

  it('is taken over from a previous boot, though its pid is alive now', async () => {
    const pid = bystander.pid!;
    await fs.writeFile(
      lockFile(),
      JSON.stringify({ pid, bootId: 'an-earlier-boot', startTime: await startTime(pid) }),
    );
    await acquireDataRootLock(dir);
    assert.equal(JSON.parse(await fs.readFile(lockFile(), 'utf8')).pid, process.pid);
    await fs.rm(lockFile());
  });

  it('is taken over when its pid is alive but started at another time', async () => {
    const pid = bystander.pid!;
    await fs.writeFile(lockFile(), JSON.stringify({ pid, bootId: await bootId(), startTime: '1' }));
    await acquireDataRootLock(dir);
    assert.equal(JSON.parse(await fs.readFile(lockFile(), 'utf8')).pid, process.pid);
    await fs.rm(lockFile());
  });

  it('a bare pid (older engines) holds only if that process is an engine', async () => {
    await fs.writeFile(lockFile(), String(bystander.pid));
    await acquireDataRootLock(dir);
    assert.equal(JSON.parse(await fs.readFile(lockFile(), 'utf8')).pid, process.pid);
    await fs.rm(lockFile());
  });

  it('a lock whose owner is gone is taken', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    await fs.writeFile(lockFile(), JSON.stringify({ pid: gone.pid, bootId: await bootId(), startTime: '5' }));
    await acquireDataRootLock(dir);
    await fs.rm(lockFile());
  });
});
