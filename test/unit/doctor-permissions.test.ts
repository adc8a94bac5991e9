// berth doctor warns about files open to other users: registry credentials,
// the engine socket, ~/.berth.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { permissionChecks } from '../../cli/doctor-permissions.js';

test('warns about credentials, a socket and ~/.berth open to others, and says how to fix each', async (t) => {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-doctor-'));
  t.after(() => fs.rm(home, { recursive: true, force: true }));
  const dockerConfig = path.join(home, '.docker');
  await fs.mkdir(dockerConfig);
  const config = path.join(dockerConfig, 'config.json');
  await fs.writeFile(config, JSON.stringify({ auths: { 'r.example': { auth: 'dTpw' } } }), { mode: 0o644 });
  await fs.mkdir(path.join(home, '.berth'), { mode: 0o777 });
  await fs.chmod(path.join(home, '.berth'), 0o777);
  const socket = path.join(home, 'engine.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(socket, r));
  t.after(() => server.close());
  await fs.chmod(socket, 0o666);
  const env = { HOME: home, DOCKER_CONFIG: dockerConfig };

  const bad = Object.fromEntries(permissionChecks(env, socket).map((c) => [c.name, c]));
  assert.equal(bad.credentials?.ok, false);
  assert.match(bad.credentials.detail, /holds registry passwords and is readable by others \(mode 644\)/);
  assert.equal(bad.credentials.fix, `chmod 600 ${config}`);
  assert.equal(bad['socket permissions']?.ok, false);
  assert.match(bad['socket permissions'].detail, /mode 666\) lets every user control the engine/);
  assert.equal(bad['berth dir']?.ok, false);
  assert.equal(bad['berth dir'].fix, `chmod go-w ${path.join(home, '.berth')}`);

  await fs.chmod(config, 0o600);
  await fs.chmod(socket, 0o660);
  await fs.chmod(path.join(home, '.berth'), 0o700);
  const good = permissionChecks(env, socket);
  assert.deepEqual(
    good.map((c) => [c.name, c.ok]),
    [
      ['credentials', true],
      ['socket permissions', true],
      ['berth dir', true],
    ],
  );
});

test('says nothing of what is not there, or of a config without credentials', async (t) => {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-doctor-'));
  t.after(() => fs.rm(home, { recursive: true, force: true }));
  await fs.writeFile(path.join(home, 'config.json'), '{"currentContext":"x"}', { mode: 0o644 });
  assert.deepEqual(permissionChecks({ HOME: home, DOCKER_CONFIG: home }, path.join(home, 'none.sock')), []);
});
