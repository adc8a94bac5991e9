// /volumes/…: named and anonymous volumes.
import type { Engine } from '../../engine/engine.js';
import { parseFilters } from '../../engine/filters.js';
import { invalid } from '../../errors.js';
import type { VolumeCreateRequest } from '../../volumes/volume-types.js';
import { volumeView as view } from '../../volumes/volume-view.js';
import { queryBool, readJsonBody, replyJson, replyStatus } from '../http-io.js';
import type { Router } from '../router.js';

export function registerVolumeRoutes(router: Router, engine: Engine): void {
  const volumes = engine.volumes;
  const inUse = (name: string) => engine.containers.volumeUsers(name);
  router
    .add('GET', '/volumes', (ctx) =>
      replyJson(ctx, 200, {
        Volumes: volumes.list(parseFilters(ctx.query.get('filters')), inUse).map(view),
        Warnings: null,
      }),
    )
    .add('POST', '/volumes/create', async (ctx) => {
      const body = (await readJsonBody(ctx)) ?? {};
      if (typeof body !== 'object' || Array.isArray(body))
        throw invalid('volume config must be a JSON object');
      const created = await volumes.create(body as VolumeCreateRequest);
      replyJson(ctx, 201, view(created));
    })
    .add('POST', '/volumes/prune', async (ctx) => {
      const report = await volumes.prune(inUse, parseFilters(ctx.query.get('filters')));
      replyJson(ctx, 200, report);
    })
    .add('GET', '/volumes/{name}', (ctx) => replyJson(ctx, 200, view(volumes.get(ctx.params.name))))
    .add('DELETE', '/volumes/{name}', async (ctx) => {
      await volumes.remove(ctx.params.name, { force: queryBool(ctx.query, 'force') }, inUse);
      replyStatus(ctx, 204);
    });
}
