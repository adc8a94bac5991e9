// POST /build: the classic builder over HTTP. The query carries the options
// (t, buildargs, labels, target, nocache, cachefrom, q, rm, forcerm,
// networkmode, pull, platform), X-Registry-Config the credentials for FROM
// images to pull, and the body the context tar. The reply is dockerd's JSON
// message stream; an error before any output is a plain HTTP error.
import type { Engine } from '../../engine/engine.js';
import { BuildStepError, type BuildOptions } from '../../engine/build/builder.js';
import { invalid, notImplemented } from '../../errors.js';
import type { Credentials } from '../../storage/registry/auth.js';
import { errorBody, messageOf, statusOf } from '../http-errors.js';
import { queryBool, queryInt, replyJson } from '../http-io.js';
import { parseFilters } from '../../engine/filters.js';
import type { RequestContext, Router } from '../router.js';
import { credentialsOf, jsonMessage } from './distribution.js';

function jsonQuery<T>(ctx: RequestContext, key: string, check: (v: unknown) => v is T): T | undefined {
  const raw = ctx.query.get(key);
  if (raw === null || raw === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(`invalid ${key} value: ${raw}`);
  }
  if (!check(value)) throw invalid(`invalid ${key} value: ${raw}`);
  return value;
}

const isStringMap = (v: unknown): v is Record<string, string | null> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => x === null || typeof x === 'string');
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** X-Registry-Config: base64url JSON of server address → auth config. */
function registryConfig(ctx: RequestContext): (domain: string) => Credentials {
  const header = ctx.req.headers['x-registry-config'];
  const value = Array.isArray(header) ? header[0] : header;
  let map: Record<string, unknown> = {};
  if (value) {
    try {
      const json = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
      const parsed = JSON.parse(json) as unknown;
      if (parsed && typeof parsed === 'object') map = parsed as Record<string, unknown>;
    } catch {
      map = {};
    }
  }
  return (domain) => {
    const keys =
      domain === 'docker.io'
        ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io']
        : [domain, `https://${domain}`, `http://${domain}`];
    for (const k of keys) {
      const cfg = map[k] ?? map[`${k}/`];
      if (cfg) return credentialsOf(cfg as Parameters<typeof credentialsOf>[0]);
    }
    return {};
  };
}

/** RUN containers' resources from the query, under their HostConfig names; zero means unset. */
function hostConfig(ctx: RequestContext): Record<string, unknown> {
  const q = ctx.query;
  const out: Record<string, unknown> = {};
  const numbers: Array<[string, string]> = [
    ['memory', 'Memory'],
    ['memswap', 'MemorySwap'],
    ['cpushares', 'CpuShares'],
    ['cpuperiod', 'CpuPeriod'],
    ['cpuquota', 'CpuQuota'],
    ['shmsize', 'ShmSize'],
  ];
  for (const [key, field] of numbers) {
    const n = queryInt(q, key);
    if (n) out[field] = n;
  }
  if (q.get('cpusetcpus')) out.CpusetCpus = q.get('cpusetcpus');
  if (q.get('cpusetmems')) out.CpusetMems = q.get('cpusetmems');
  // One extrahosts parameter per --add-host.
  const hosts = q.getAll('extrahosts').filter(Boolean);
  if (hosts.length) out.ExtraHosts = hosts;
  return out;
}

function options(ctx: RequestContext, signal: AbortSignal): BuildOptions {
  const q = ctx.query;
  if (q.get('version') === '2')
    throw notImplemented('BuildKit is not supported by this Berth engine; build with DOCKER_BUILDKIT=0');
  if (q.get('remote'))
    throw notImplemented('building from a remote context is not supported by this Berth engine');
  if (queryBool(q, 'squash'))
    throw notImplemented(
      '--squash is not supported by this Berth engine: build without it (a multi-stage build copying into a fresh stage gives one layer)',
    );
  const buildArgs = jsonQuery(ctx, 'buildargs', isStringMap) ?? {};
  const labels = jsonQuery(ctx, 'labels', isStringMap) ?? {};
  return {
    dockerfile: q.get('dockerfile') || 'Dockerfile',
    tags: q.getAll('t').filter(Boolean),
    buildArgs: new Map(Object.entries(buildArgs)),
    labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v ?? ''])),
    noCache: queryBool(q, 'nocache'),
    cacheFrom: jsonQuery(ctx, 'cachefrom', isStringList) ?? [],
    target: q.get('target') ?? '',
    pull: queryBool(q, 'pull'),
    platform: q.get('platform') ?? '',
    networkMode: q.get('networkmode') ?? '',
    remove: queryBool(q, 'rm', true),
    forceRemove: queryBool(q, 'forcerm'),
    hostConfig: hostConfig(ctx),
    credentials: registryConfig(ctx),
    signal,
  };
}

/** The reply: JSON lines; in quiet mode held back, and only the image ID sent on success. */
class BuildReply {
  private started = false;
  private readonly held: string[] = [];

  constructor(
    private readonly ctx: RequestContext,
    private readonly quiet: boolean,
  ) {}

  private send(line: string): void {
    const res = this.ctx.res!;
    if (res.destroyed) return;
    if (!this.started) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      this.started = true;
    }
    res.write(line);
  }

  write(value: Record<string, unknown>): void {
    const line = JSON.stringify(value) + '\r\n';
    if (this.quiet) this.held.push(line);
    else this.send(line);
  }

  succeed(id: string): void {
    if (this.quiet) this.send(JSON.stringify({ stream: `${id}\n` }) + '\r\n');
    if (!this.started) this.send('');
    this.ctx.res!.end();
  }

  fail(err: unknown): void {
    const res = this.ctx.res!;
    for (const line of this.held) this.send(line);
    if (!this.started) {
      res.writeHead(statusOf(err), { 'Content-Type': 'application/json' }).end(errorBody(err));
      return;
    }
    const message = messageOf(err);
    const detail = err instanceof BuildStepError ? { code: err.code, message } : { message };
    res.end(JSON.stringify({ errorDetail: detail, error: message }) + '\r\n');
  }
}

async function build(engine: Engine, ctx: RequestContext): Promise<void> {
  const controller = new AbortController();
  ctx.res!.once('close', () => {
    if (!ctx.res!.writableFinished) controller.abort();
  });
  const reply = new BuildReply(ctx, queryBool(ctx.query, 'q'));
  try {
    const id = await engine.builder.build(ctx.req, options(ctx, controller.signal), {
      stream: (text) => reply.write({ stream: text }),
      progress: (e) => reply.write(jsonMessage(e)),
      aux: (value) => reply.write({ aux: value }),
    });
    reply.succeed(id);
  } catch (err) {
    if (controller.signal.aborted) ctx.res!.destroy();
    else reply.fail(err);
  }
}

export function registerBuildRoutes(router: Router, engine: Engine): void {
  router
    .add('POST', '/build', (ctx) => build(engine, ctx))
    .add('POST', '/build/prune', async (ctx) => {
      // The cache is emptied whole: a filter or a size to keep would be ignored, pruning more than asked.
      const kept = ['keep-storage', 'reserved-space', 'max-used-space', 'min-free-space'].find(
        (k) => Number(ctx.query.get(k) ?? 0) > 0,
      );
      if (kept)
        throw notImplemented(
          `builder prune: ${kept} is not supported by Berth, whose prune empties the whole build cache`,
        );
      if (parseFilters(ctx.query.get('filters')).size > 0)
        throw notImplemented(
          'builder prune: --filter is not supported by Berth, whose prune empties the whole build cache',
        );
      replyJson(ctx, 200, await engine.builder.pruneCache());
    });
}
