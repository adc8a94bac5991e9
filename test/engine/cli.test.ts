// The bundled berth CLI: version and doctor, against a running engine and without one.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';
import { repoRoot } from '../fixtures/image-cache.js';

const berth = (args: string[], env: Record<string, string>) =>
  run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
    env,
    allowFailure: true,
    timeoutMs: 30_000,
  });

describe('berth CLI', () => {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
  });
  after(async () => {
    await engine.cleanup();
  });

  it('prints client and server versions', async () => {
    const r = await berth(['version'], { DOCKER_HOST: engine.host });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^Client: Berth \d+\.\d+\.\d+$/m);
    assert.match(r.stdout, /^Server: Berth Engine .*\(API 1\.47/m);
  });

  it('doctor checks the machine and the engine, and says what to do when the engine is down', async () => {
    const ok = await berth(['doctor'], { DOCKER_HOST: engine.host });
    assert.equal(ok.exitCode, 0, ok.stdout);
    assert.match(ok.stdout, /^ ok\s+runc\s+\//m);
    assert.match(ok.stdout, new RegExp(`^ ok\\s+engine\\s+answering on ${engine.socket}`, 'm'));
    assert.match(ok.stdout, /^ ok\s+runtime\s+the engine runs containers with (runc|crun)/m);
    const down = await berth(['doctor'], { DOCKER_HOST: `unix://${engine.socket}.absent` });
    assert.equal(down.exitCode, 1);
    assert.match(down.stdout, /FAIL\s+engine\s+no engine answers/);
    assert.match(down.stdout, /fix: start it with `npm start`/);
    const unknown = await berth(['frobnicate'], {});
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });
});
