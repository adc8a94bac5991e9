// The Machine view's backend with Berth's VM as the engine (mode vm) and no VM
// running: state, doctor, and factory reset through the real `berth vm stop`.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DesktopBackend } from '../../main/backend.js';
import { vmPaths } from '../../vm/paths.js';
import { recordForSweep } from '../helpers/leftovers.js';

describe('machine (the VM, stopped)', () => {
  const home = mkdtempSync(path.join(tmpdir(), 'berth-machine-home-'));
  recordForSweep(home);
  const env = { BERTH_HOME: home };
  const backend = new DesktopBackend({ home, env, stats: false });
  after(() => {
    backend.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('says the VM is stopped and its engine not reachable', async () => {
    const info = await backend.call('machine.info', {});
    assert.equal(info.mode, 'vm');
    assert.equal(info.engineSocket, vmPaths(home).engineSocket);
    assert.equal(info.vm.status, 'stopped');
    assert.equal(info.engineReachable, false);
    const checks = await backend.call('machine.doctor', {});
    const engine = checks.find((c) => c.name === 'engine');
    assert.equal(engine?.ok, false);
    assert.match(engine?.detail ?? '', /no engine answers/);
  });

  it('resets to factory defaults only when confirmed: disk, state and settings go, keys stay', async () => {
    const p = vmPaths(home);
    mkdirSync(p.dir, { recursive: true });
    mkdirSync(path.dirname(p.hostKey), { recursive: true });
    writeFileSync(p.disk, 'a disk');
    writeFileSync(p.serialLog, 'boot log');
    writeFileSync(p.hostKey, 'key');
    await backend.call('settings.save', {
      settings: { ...(await backend.call('settings.get', {})), cpus: 1 },
    });
    assert.ok(existsSync(path.join(home, 'settings.json')));
    await assert.rejects(backend.call('machine.reset', {} as never), /must be confirmed/);
    assert.ok(existsSync(p.disk));
    const info = await backend.call('machine.reset', { confirm: 'reset' });
    assert.equal(info.vm.status, 'stopped');
    assert.equal(existsSync(p.disk), false);
    assert.equal(existsSync(p.serialLog), false);
    assert.equal(existsSync(path.join(home, 'settings.json')), false);
    assert.ok(existsSync(p.hostKey));
  });
});

describe('machine (an engine named by DOCKER_HOST)', () => {
  it('refuses to start, stop or reset an engine it does not run (409)', async () => {
    const backend = new DesktopBackend({ socket: '/nonexistent/docker.sock', stats: false });
    try {
      for (const call of [
        () => backend.call('machine.action', { action: 'stop' }),
        () => backend.call('machine.reset', { confirm: 'reset' }),
      ])
        await assert.rejects(call(), (err: { statusCode?: number; message: string }) => {
          assert.equal(err.statusCode, 409);
          assert.match(err.message, /is not Berth's VM/);
          return true;
        });
    } finally {
      backend.close();
    }
  });
});
