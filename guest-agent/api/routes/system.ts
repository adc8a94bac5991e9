// /_ping, /version, /info, /events.
import type { Engine } from '../../engine/engine.js';
import { eventMatches } from '../../engine/events.js';
import { parseFilters } from '../../engine/filters.js';
import { parseSinceUntil } from '../../logs/timestamp.js';
import { replyJson } from '../http-io.js';
import type { RequestContext, Router } from '../router.js';

function ping(ctx: RequestContext): void {
  const res = ctx.res!;
  res.setHeader('Builder-Version', '1');
  res.setHeader('Swarm', 'inactive');
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
  if (ctx.method === 'HEAD') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' }).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2' }).end('OK');
}

/** `docker events`: replay what matches since/until, then follow live until `until`. */
async function events(engine: Engine, ctx: RequestContext): Promise<void> {
  const filters = parseFilters(ctx.query.get('filters'));
  const sinceNs = parseSinceUntil(ctx.query.get('since') ?? '');
  const untilNs = parseSinceUntil(ctx.query.get('until') ?? '');
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const send = (e: object) => res.write(JSON.stringify(e) + '\n');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  if (sinceNs !== undefined) {
    for (const e of engine.events.replay(sinceNs, untilNs)) if (eventMatches(e, filters)) send(e);
  }
  if (untilNs !== undefined && untilNs <= nowNs) {
    res.end();
    return;
  }
  engine.eventListeners++;
  await new Promise<void>((resolve) => {
    const unsubscribe = engine.events.subscribe((e) => {
      if (untilNs !== undefined && BigInt(e.timeNano) > untilNs) return;
      if (eventMatches(e, filters)) send(e);
    });
    const timer =
      untilNs !== undefined ? setTimeout(() => finish(), Number((untilNs - nowNs) / 1_000_000n)) : undefined;
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
      engine.eventListeners--;
      if (!res.writableEnded) res.end();
      resolve();
    };
    res.once('close', finish);
  });
}

export function registerSystemRoutes(router: Router, engine: Engine): void {
  router
    .add('GET', '/_ping', ping)
    .add('HEAD', '/_ping', ping)
    .add('GET', '/version', (ctx) => replyJson(ctx, 200, engine.version()))
    .add('GET', '/info', (ctx) => replyJson(ctx, 200, engine.info()))
    .add('GET', '/events', (ctx) => events(engine, ctx))
    .add('GET', '/system/df', async (ctx) => replyJson(ctx, 200, await engine.diskUsage()));
}
