// GET /containers/{id}/stats: the sampler's samples as dockerd writes them,
// one JSON document per line, flushed as each is taken.
import type { Engine } from '../../engine/engine.js';
import { encodeStats } from '../../engine/stats.js';
import { queryBool } from '../http-io.js';
import type { RequestContext } from '../router.js';

export async function containerStats(engine: Engine, ctx: RequestContext): Promise<void> {
  const record = engine.containers.get(ctx.params.id); // 404 before any header
  const stream = queryBool(ctx.query, 'stream', true);
  const oneShot = queryBool(ctx.query, 'one-shot', false);
  const res = ctx.res!;
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  // dockerd names the type only for a single answer; a stream goes out
  // flushed at once with what Go's sniffing gives JSON text.
  res.writeHead(200, { 'Content-Type': stream ? 'text/plain; charset=utf-8' : 'application/json' });
  if (stream) res.flushHeaders();
  for await (const sample of engine.stats.samples(record.Id, { stream, oneShot, signal: abort.signal })) {
    if (res.destroyed) break;
    res.write(encodeStats(sample) + '\n');
  }
  if (!res.writableEnded) res.end();
}
