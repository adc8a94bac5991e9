// What Berth does not have (swarm mode, managed plugins, registry search), as
// the docker CLI shows it: dockerd's statuses with messages that say so and
// what to use instead, not a bare "page not found".
import assert from 'node:assert/strict';
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

  it('docker search says it is not there yet and where to search', async () => {
    await fails(
      ['search', 'busybox'],
      /docker search is not supported by Berth yet: search for images on https:\/\/hub\.docker\.com/,
    );
  });
});
