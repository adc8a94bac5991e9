// API areas Berth does not have: swarm mode (nodes, services, tasks, secrets,
// configs), managed plugins, checkpoints and registry search. dockerd answers them on a
// node outside a swarm with clear errors, and so does Berth, instead of a bare
// 404 "page not found" the docker CLI would print as is.
import { HttpError } from '../http-errors.js';
import { replyJson } from '../http-io.js';
import type { Router } from '../router.js';

const NOT_A_MANAGER =
  'This node is not a swarm manager: Berth does not run swarm mode. Use docker compose (or berth compose) for multi-container apps.';
const NO_SWARM =
  'Swarm mode is not supported by Berth: use docker compose (or berth compose) for multi-container apps.';
const NO_PLUGINS = 'Managed plugins are not supported by Berth.';

const SWARM_OBJECTS = ['nodes', 'services', 'tasks', 'secrets', 'configs'];

export function registerNotInBerthRoutes(router: Router): void {
  const fail = (status: number, message: string) => () => {
    throw new HttpError(status, message);
  };
  for (const method of ['GET', 'POST', 'DELETE']) {
    for (const kind of SWARM_OBJECTS) {
      router.add(method, `/${kind}`, fail(503, NOT_A_MANAGER));
      router.add(method, `/${kind}/{rest*}`, fail(503, NOT_A_MANAGER));
    }
  }
  router.add('GET', '/swarm', fail(503, NOT_A_MANAGER));
  router.add('GET', '/swarm/unlockkey', fail(503, NOT_A_MANAGER));
  for (const action of ['init', 'join', 'update', 'unlock'])
    router.add('POST', `/swarm/${action}`, fail(501, NO_SWARM));
  router.add('POST', '/swarm/leave', fail(503, 'This node is not part of a swarm'));

  // docker checkpoint (shown by the CLI when the engine says it is experimental).
  const NO_CHECKPOINTS =
    'Checkpoints are not supported by Berth: they need CRIU, which its engine does not use.';
  router.add('GET', '/containers/{id}/checkpoints', fail(501, NO_CHECKPOINTS));
  router.add('POST', '/containers/{id}/checkpoints', fail(501, NO_CHECKPOINTS));

  // No plugin is installed, so the list is empty; anything about one names it missing.
  router.add('GET', '/plugins', (ctx) => replyJson(ctx, 200, []));
  router.add('GET', '/plugins/privileges', fail(501, NO_PLUGINS));
  for (const action of ['pull', 'create']) router.add('POST', `/plugins/${action}`, fail(501, NO_PLUGINS));
  const missing = (ctx: { params: Record<string, string> }) => {
    throw new HttpError(404, `plugin "${ctx.params.name}" not found`);
  };
  router.add('GET', '/plugins/{name*}/json', missing);
  router.add('DELETE', '/plugins/{name*}', missing);
  for (const action of ['enable', 'disable', 'push', 'set', 'upgrade'])
    router.add('POST', `/plugins/{name*}/${action}`, missing);

  router.add(
    'GET',
    '/images/search',
    fail(501, 'docker search is not supported by Berth yet: search for images on https://hub.docker.com'),
  );
}
