// /containers/…: translate HTTP to the container domain and back.
import type { Engine } from '../../engine/engine.js';
import type { WaitCondition } from '../../engine/containers.js';
import type { OutputSink, StreamName } from '../../engine/stdio-hub.js';
import { parseFilters } from '../../engine/filters.js';
import { detailsPrefix } from '../../logs/log-details.js';
import { formatTimestamp9, parseSinceUntil } from '../../logs/timestamp.js';
import { frame } from '../stdcopy.js';
import {
  openRawStream,
  queryBool,
  queryInt,
  readJsonBody,
  readUpgradeBody,
  replyJson,
  replyStatus,
  type RawStream,
} from '../http-io.js';
import { HttpError } from '../http-errors.js';
import type { RequestContext, Router } from '../router.js';
import { DetachKeyScanner } from '../detach-keys.js';
import { pumpStdin } from '../stdin-pump.js';
import { containerStats } from './container-stats.js';

/** Multiplexed output has its own media type from API 1.42 on. */
export function streamContentType(ctx: RequestContext, tty: boolean): string {
  if (tty) return 'application/vnd.docker.raw-stream';
  const [major, minor] = ctx.apiVersion.split('.').map(Number);
  return major > 1 || minor >= 42
    ? 'application/vnd.docker.multiplexed-stream'
    : 'application/vnd.docker.raw-stream';
}

/** A sink writing a process's output to a raw stream, framed unless TTY. */
export function streamSink(
  stream: RawStream,
  tty: boolean,
  want: { stdout: boolean; stderr: boolean },
): OutputSink {
  return {
    stdout: want.stdout,
    stderr: want.stderr,
    write: (name: StreamName, data: Buffer) => stream.write(tty ? data : frame(name, data)),
    end: () => stream.end(),
  };
}

async function attach(engine: Engine, ctx: RequestContext): Promise<void> {
  const q = ctx.query;
  const record = engine.containers.get(ctx.params.id);
  const tty = record.Config.Tty ?? false;
  const want = {
    stdin: queryBool(q, 'stdin'),
    stdout: queryBool(q, 'stdout'),
    stderr: queryBool(q, 'stderr'),
  };
  const streamMode = queryBool(q, 'stream');
  // A request body (dockerode sends its options as JSON) is not stdin: only
  // what follows it on the hijacked connection is, as dockerd reads it.
  const early = ctx.upgrade ? (await readUpgradeBody(ctx)).rest : undefined;
  const raw = openRawStream(ctx, streamContentType(ctx, tty));
  if (!streamMode) {
    raw.end();
    return;
  }
  const handle = engine.containers.attach(record.Id, want, streamSink(raw, tty, want));
  const input = raw.input;
  if (input && want.stdin) {
    const target = { write: handle.writeStdin, whenDrained: handle.whenStdinDrained };
    const detachAndEnd = () => {
      handle.detach();
      raw.end();
    };
    // As dockerd: detach keys are scanned only with a TTY; other input passes untouched.
    const scanner = tty ? new DetachKeyScanner(q.get('detachKeys') || undefined) : undefined;
    const filter = scanner
      ? (chunk: Buffer) => {
          const { data, detached } = scanner.feed(chunk);
          return { data, stop: detached };
        }
      : undefined;
    if (early?.length) {
      const r = filter ? filter(early) : { data: early, stop: false };
      if (r.data.length) handle.writeStdin(r.data);
      if (r.stop) detachAndEnd();
    }
    pumpStdin(input, target, {
      filter,
      onStop: detachAndEnd,
      onEnd: () => {
        handle.endStdin();
        // With a TTY the attach ends with the client's input, as in dockerd.
        if (tty) detachAndEnd();
      },
    });
  }
  await raw.closed;
  handle.detach();
}

async function logs(engine: Engine, ctx: RequestContext): Promise<void> {
  const q = ctx.query;
  const tailRaw = q.get('tail');
  const tailNum = tailRaw === null || tailRaw === 'all' ? undefined : Number(tailRaw);
  const tail = tailNum !== undefined && Number.isInteger(tailNum) && tailNum >= 0 ? tailNum : undefined;
  const abort = new AbortController();
  const { tty, messages } = engine.logs(ctx.params.id, {
    stdout: queryBool(q, 'stdout'),
    stderr: queryBool(q, 'stderr'),
    follow: queryBool(q, 'follow'),
    tail,
    sinceNs: parseSinceUntil(q.get('since') ?? ''),
    untilNs: parseSinceUntil(q.get('until') ?? ''),
    signal: abort.signal,
  });
  const timestamps = queryBool(q, 'timestamps');
  const details = queryBool(q, 'details');
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': streamContentType(ctx, tty) });
  res.flushHeaders();
  res.once('close', () => abort.abort());
  for await (const msg of messages) {
    if (res.destroyed) break;
    // As dockerd: the timestamp first, then the details, then the line.
    const parts = [msg.line];
    if (details) parts.unshift(detailsPrefix(msg.attrs));
    if (timestamps) parts.unshift(Buffer.from(formatTimestamp9(msg.timeNs) + ' '));
    const line = parts.length === 1 ? msg.line : Buffer.concat(parts);
    res.write(tty ? line : frame(msg.stream, line));
  }
  res.end();
}

async function wait(engine: Engine, ctx: RequestContext): Promise<void> {
  const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
  const { ready, cancel } = engine.containers.wait(ctx.params.id, condition);
  const res = ctx.res!;
  // The CLI only calls start once these headers arrive.
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  res.once('close', cancel);
  const result = await ready;
  if (!res.destroyed)
    res.end(JSON.stringify({ Error: result.Error ?? null, StatusCode: result.StatusCode }) + '\n');
}

export function registerContainerRoutes(router: Router, engine: Engine): void {
  const c = engine.containers;
  router
    .add('GET', '/containers/json', async (ctx) => {
      const q = ctx.query;
      const list = await engine.listContainers({
        all: queryBool(q, 'all'),
        limit: queryInt(q, 'limit'),
        size: queryBool(q, 'size'),
        filters: parseFilters(q.get('filters')),
      });
      replyJson(ctx, 200, list);
    })
    .add('POST', '/containers/create', async (ctx) => {
      const body = await readJsonBody(ctx);
      replyJson(
        ctx,
        201,
        await c.create(ctx.query.get('name') || undefined, body, ctx.query.get('platform') || undefined),
      );
    })
    .add('POST', '/containers/prune', async (ctx) => {
      replyJson(ctx, 200, await engine.pruneContainers(parseFilters(ctx.query.get('filters'))));
    })
    // Any name, slashes too, as dockerd routes it: `docker inspect registry:5000/img` asks here first
    // and must get "No such container" (404) to go on to images, not a 405 from the rm --link route.
    .add('GET', '/containers/{id*}/json', async (ctx) => {
      replyJson(ctx, 200, await engine.inspectContainer(ctx.params.id, queryBool(ctx.query, 'size')));
    })
    .add('GET', '/containers/{id}/top', async (ctx) => {
      replyJson(ctx, 200, await engine.top(ctx.params.id, ctx.query.get('ps_args') ?? '-ef'));
    })
    .add('GET', '/containers/{id}/logs', (ctx) => logs(engine, ctx))
    .add('GET', '/containers/{id}/changes', async (ctx) =>
      replyJson(ctx, 200, await engine.changes(ctx.params.id)),
    )
    .add('POST', '/containers/{id}/start', async (ctx) => {
      await c.start(ctx.params.id);
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/stop', async (ctx) => {
      await c.stop(ctx.params.id, {
        timeout: queryInt(ctx.query, 't'),
        signal: ctx.query.get('signal') || undefined,
      });
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/restart', async (ctx) => {
      await c.restart(ctx.params.id, {
        timeout: queryInt(ctx.query, 't'),
        signal: ctx.query.get('signal') || undefined,
      });
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/kill', async (ctx) => {
      await c.kill(ctx.params.id, ctx.query.get('signal') || undefined);
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/rename', async (ctx) => {
      await c.rename(ctx.params.id, ctx.query.get('name') ?? '');
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/resize', (ctx) => {
      const h = queryInt(ctx.query, 'h') ?? 0;
      const w = queryInt(ctx.query, 'w') ?? 0;
      c.resize(ctx.params.id, w, h);
      replyStatus(ctx, 200);
    })
    .add('POST', '/containers/{id}/attach', (ctx) => attach(engine, ctx))
    .add('POST', '/containers/{id}/wait', (ctx) => wait(engine, ctx))
    .add('DELETE', '/containers/{id}', async (ctx) => {
      if (queryBool(ctx.query, 'link')) {
        await c.removeLink(ctx.params.id);
        replyStatus(ctx, 204);
        return;
      }
      await c.remove(ctx.params.id, {
        force: queryBool(ctx.query, 'force'),
        volumes: queryBool(ctx.query, 'v'),
      });
      replyStatus(ctx, 204);
    })
    // docker rm --link /parent/alias: a link's name has slashes in it.
    .add('DELETE', '/containers/{link*}', async (ctx) => {
      if (!queryBool(ctx.query, 'link')) throw new HttpError(404, 'page not found');
      await c.removeLink(ctx.params.link);
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/pause', async (ctx) => {
      await c.pause(ctx.params.id);
      replyStatus(ctx, 204);
    })
    .add('POST', '/containers/{id}/unpause', async (ctx) => {
      await c.unpause(ctx.params.id);
      replyStatus(ctx, 204);
    })
    .add('GET', '/containers/{id}/stats', (ctx) => containerStats(engine, ctx))
    .add('POST', '/containers/{id}/update', async (ctx) => {
      replyJson(ctx, 200, await c.update(ctx.params.id, await readJsonBody(ctx)));
    });
}
