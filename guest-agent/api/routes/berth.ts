// Berth's own read-only routes, beside the Engine API: /berth/…
import type { Engine } from '../../engine/engine.js';
import { replyJson } from '../http-io.js';
import type { Router } from '../router.js';

export function registerBerthRoutes(router: Router, engine: Engine): void {
  router.add('GET', '/berth/containers/{id}/explain', async (ctx) =>
    replyJson(ctx, 200, await engine.explainContainer(ctx.params.id)),
  );
}
