// Compose projects from the dashboard's backend: listed from their containers'
// labels; up from the project's own files brings a removed service back; down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DesktopBackend } from '../../main/backend.js';
import { berthCompose, projectDir } from '../helpers/compose.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('compose projects (dashboard backend)', () => {
  const engine = useEngineWithBusybox();
  const project = projectDir('dashproj', {
    'compose.yaml':
      'services:\n  web:\n    image: busybox\n    command: sleep 600\n  worker:\n    image: busybox\n    command: sleep 600\n',
  });
  let backend: DesktopBackend;
  before(async () => {
    const r = await berthCompose(engine(), ['up', '-d'], { cwd: project.dir });
    assert.equal(r.code, 0, r.stderr);
    backend = new DesktopBackend({ socket: engine().socket, stats: false });
  });
  after(() => {
    backend?.close();
    project.cleanup();
  });

  it('lists the project with its services and where its files are', async () => {
    const [p] = (await backend.call('compose.list', {})).filter((x) => x.name === 'dashproj');
    assert.deepEqual(p.services.sort(), ['web', 'worker']);
    assert.equal(p.running, 2);
    assert.equal(p.total, 2);
    assert.equal(p.workingDir, project.dir);
  });

  it('up from the files brings back a service whose container was removed', async () => {
    const before = (
      await docker(engine(), ['ps', '-q', '--filter', 'label=com.docker.compose.service=worker'])
    ).stdout.trim();
    assert.equal((await docker(engine(), ['rm', '-f', before])).code, 0);
    await backend.call('compose.action', { project: 'dashproj', action: 'up' });
    const now = (
      await docker(engine(), ['ps', '-q', '--filter', 'label=com.docker.compose.service=worker'])
    ).stdout.trim();
    assert.ok(now && now !== before, 'a new worker container runs');
  });

  it('down removes the containers and the project network; an unknown project is a 404', async () => {
    await backend.call('compose.action', { project: 'dashproj', action: 'down' });
    assert.equal(
      (
        await docker(engine(), ['ps', '-aq', '--filter', 'label=com.docker.compose.project=dashproj'])
      ).stdout.trim(),
      '',
    );
    assert.doesNotMatch(
      (await docker(engine(), ['network', 'ls', '--format', '{{.Name}}'])).stdout,
      /dashproj/,
    );
    await assert.rejects(
      backend.call('compose.action', { project: 'dashproj', action: 'up' }),
      /no compose project named dashproj/,
    );
  });
});
