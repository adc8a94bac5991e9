// What Berth does not have (swarm mode, managed plugins, checkpoints, registry search), as
// the docker CLI shows it: dockerd's statuses with messages that say so and
// what to use instead, not a bare "page not found".
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('swarm, plugins and search', () => {
  const engine = useEngineWithBusybox();
  const fails = async (args: string[], message: RegExp) => {
    const r = await docker(engine(), args);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, message);
  };

  it('swarm commands say Berth has no swarm mode and point to compose', async () => {
    await fails(['swarm', 'init'], /Swarm mode is not supported by Berth: use docker compose/);
    await fails(['swarm', 'join', '--token', 'x', '127.0.0.1:2377'], /Swarm mode is not supported by Berth/);
    await fails(['swarm', 'leave'], /This node is not part of a swarm/);
    for (const args of [
      ['node', 'ls'],
      ['service', 'ls'],
      ['service', 'create', '--no-resolve-image', 'busybox'],
      ['secret', 'ls'],
      ['config', 'ls'],
      ['stack', 'ls'],
    ])
      await fails(args, /This node is not a swarm manager: Berth does not run swarm mode/);
    const info = await docker(engine(), ['info', '-f', '{{.Swarm.LocalNodeState}}']);
    assert.equal(info.stdout, 'inactive\n');
  });

  it('plugin ls is empty, a named plugin is missing, installing one is refused', async () => {
    const ls = await docker(engine(), ['plugin', 'ls', '--format', '{{.Name}}']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout, '');
    await fails(['plugin', 'inspect', 'vieux/sshfs'], /plugin "vieux\/sshfs" not found/);
    await fails(['plugin', 'rm', 'vieux/sshfs'], /plugin "vieux\/sshfs" not found/);
    await fails(
      ['plugin', 'install', '--grant-all-permissions', 'vieux/sshfs'],
      /Managed plugins are not supported by Berth/,
    );
  });

  it('checkpoints (the CLI shows them on an experimental engine) say why there are none', async () => {
    const run = await docker(engine(), ['run', '-d', 'busybox', 'sleep', '60']);
    const id = run.stdout.trim();
    for (const method of ['GET', 'POST']) {
      const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            socketPath: engine().socket,
            method,
            path: `/v1.47/containers/${id}/checkpoints`,
            headers: { 'Content-Type': 'application/json' },
          },
          (r) => {
            let text = '';
            r.on('data', (c: Buffer) => (text += c.toString()));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(method === 'POST' ? JSON.stringify({ CheckpointID: 'c1' }) : undefined);
      });
      assert.equal(res.status, 501, res.text);
      assert.match(res.text, /Checkpoints are not supported by Berth: they need CRIU/);
    }
    await docker(engine(), ['rm', '-f', id]);
  });

  it('docker search says it is not there yet and where to search', async () => {
    await fails(
      ['search', 'busybox'],
      /docker search is not supported by Berth yet: search for images on https:\/\/hub\.docker\.com/,
    );
  });
});
