// /images/…, /commit: translate HTTP to the image domain and back.
import type { Engine } from '../../engine/engine.js';
import { parseFilters } from '../../engine/filters.js';
import { invalid, notImplemented } from '../../errors.js';
import { JsonLineStream, queryBool, readJsonBody, replyJson } from '../http-io.js';
import type { RequestContext, Router } from '../router.js';
import { pullImage } from './distribution.js';

/** `changes` arrives as repeated query values (commit, import). */
function changesOf(ctx: RequestContext): string[] {
  return ctx.query.getAll('changes').filter((c) => c.trim() !== '');
}

async function load(engine: Engine, ctx: RequestContext): Promise<void> {
  const quiet = queryBool(ctx.query, 'quiet');
  const out = new JsonLineStream(ctx);
  try {
    const lines = await engine.images.load(
      ctx.req,
      quiet
        ? undefined
        : (p) =>
            out.write(
              typeof p === 'string'
                ? { status: p }
                : { status: p.status, id: p.id, progressDetail: { current: p.current, total: p.total } },
            ),
    );
    for (const line of lines) out.write({ stream: `${line}\n` });
    out.end();
  } catch (err) {
    out.fail(err);
  }
}

async function save(engine: Engine, ctx: RequestContext, names: string[]): Promise<void> {
  engine.images.resolveForSave(names);
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await engine.images.save(names, res);
    res.end();
  } catch {
    // Headers are gone: cut the connection so the client sees a broken archive, never a short valid one.
    res.destroy();
  }
}

/** POST /images/create: `fromSrc` imports a tarball; `fromImage` pulls from a registry. */
async function createImage(engine: Engine, ctx: RequestContext): Promise<void> {
  const q = ctx.query;
  const fromSrc = q.get('fromSrc');
  if (fromSrc !== null) {
    if (fromSrc !== '-') {
      throw invalid(
        `importing from a URL (${fromSrc}) is not supported: download the tarball and import it from a file`,
      );
    }
    const out = new JsonLineStream(ctx);
    try {
      const img = await engine.images.importTarball(ctx.req, {
        repo: q.get('repo') || undefined,
        tag: q.get('tag') || undefined,
        message: q.get('message') || undefined,
        changes: changesOf(ctx),
        platform: q.get('platform') || undefined,
      });
      out.write({ status: img.id });
      out.end();
    } catch (err) {
      out.fail(err);
    }
    return;
  }
  const image = q.get('fromImage');
  if (!image) throw invalid('fromImage or fromSrc is required');
  await pullImage(engine, ctx, image);
}

export function registerImageRoutes(router: Router, engine: Engine): void {
  const images = engine.images;
  router
    .add('GET', '/images/json', (ctx) =>
      replyJson(
        ctx,
        200,
        images.list({
          all: queryBool(ctx.query, 'all'),
          filters: parseFilters(ctx.query.get('filters')),
          containersCount: queryBool(ctx.query, 'shared-size'),
        }),
      ),
    )
    .add('POST', '/images/load', (ctx) => load(engine, ctx))
    .add('GET', '/images/get', (ctx) => save(engine, ctx, ctx.query.getAll('names')))
    .add('POST', '/images/create', (ctx) => createImage(engine, ctx))
    .add('POST', '/images/prune', async (ctx) =>
      replyJson(ctx, 200, await images.prune(parseFilters(ctx.query.get('filters')))),
    )
    .add('POST', '/images/search', () => {
      throw notImplemented('searching registries is not supported by this Berth engine (no registry access)');
    })
    .add('GET', '/images/{name*}/json', (ctx) => replyJson(ctx, 200, images.inspect(ctx.params.name)))
    .add('GET', '/images/{name*}/history', async (ctx) =>
      replyJson(ctx, 200, await images.history(ctx.params.name)),
    )
    .add('GET', '/images/{name*}/get', (ctx) => save(engine, ctx, [ctx.params.name]))
    .add('POST', '/images/{name*}/tag', async (ctx) => {
      await images.tag(ctx.params.name, ctx.query.get('repo') ?? '', ctx.query.get('tag') || undefined);
      ctx.res!.writeHead(201).end();
    })
    .add('DELETE', '/images/{name*}', async (ctx) =>
      replyJson(
        ctx,
        200,
        await images.remove(ctx.params.name, {
          force: queryBool(ctx.query, 'force'),
          noprune: queryBool(ctx.query, 'noprune'),
        }),
      ),
    )
    .add('POST', '/commit', async (ctx) => {
      const q = ctx.query;
      const container = q.get('container');
      if (!container) throw invalid('container is required to commit');
      const body = await readJsonBody(ctx);
      if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
        throw invalid('commit config must be a JSON object');
      }
      const id = await engine.commit({
        container,
        repo: q.get('repo') || undefined,
        tag: q.get('tag') || undefined,
        author: q.get('author') || undefined,
        comment: q.get('comment') || undefined,
        changes: changesOf(ctx),
        config: (body as Record<string, unknown> | null) ?? undefined,
      });
      replyJson(ctx, 201, { Id: id });
    });
}
