// Registry operations over HTTP: pull (POST /images/create?fromImage=),
// push (POST /images/{name}/push) and login (POST /auth). Credentials arrive
// in X-Registry-Auth (base64url JSON); progress leaves as dockerd's JSON
// message stream, which the CLI draws as progress bars.
import type { Engine } from '../../engine/engine.js';
import type { TransferEvent } from '../../engine/image-distribution.js';
import type { Credentials } from '../../storage/registry/auth.js';
import { invalid } from '../../errors.js';
import { JsonLineStream, readJsonBody, replyJson } from '../http-io.js';
import type { RequestContext, Router } from '../router.js';

interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export function credentialsOf(config: AuthConfig | undefined): Credentials & { serverAddress?: string } {
  if (!config || typeof config !== 'object') return {};
  let { username, password } = config;
  // The legacy "auth" field is base64("user:password").
  if (!username && typeof config.auth === 'string' && config.auth) {
    const decoded = Buffer.from(config.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    username: str(username),
    password: str(password),
    identityToken: str(config.identitytoken),
    registryToken: str(config.registrytoken),
    serverAddress: str(config.serveraddress),
  };
}

/** X-Registry-Auth: base64url (or plain base64) JSON; unreadable means anonymous, as in dockerd. */
function registryAuth(ctx: RequestContext): Credentials {
  const header = ctx.req.headers['x-registry-auth'];
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return {};
  try {
    const json = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    return credentialsOf(JSON.parse(json) as AuthConfig);
  } catch {
    return {};
  }
}

/** Size as docker's units.HumanSize writes it: decimal units, four significant digits. */
function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

/** The text bar non-terminal clients show: "[=====>      ]  1.2MB/3.4MB". */
function progressBar(current: number, total: number | undefined): string {
  if (!total || total <= 0) return humanSize(current);
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = `[${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}] `;
  return `${bar}${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** A transfer event as a JSON message (pkg/jsonmessage). */
export function jsonMessage(e: TransferEvent): Record<string, unknown> {
  if (e.aux) return { progressDetail: {}, aux: e.aux };
  const m: Record<string, unknown> = { status: e.status ?? '' };
  if (e.current !== undefined) {
    m.progressDetail = { current: e.current, ...(e.total !== undefined ? { total: e.total } : {}) };
    m.progress = progressBar(e.current, e.total);
  } else if (e.id) {
    m.progressDetail = {};
  }
  if (e.id) m.id = e.id;
  return m;
}

/** Aborted when the client goes away before the response is complete (docker pull, then Ctrl-C). */
function abortOnDisconnect(ctx: RequestContext): AbortSignal {
  const controller = new AbortController();
  ctx.res!.once('close', () => {
    if (!ctx.res!.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** POST /images/create?fromImage=…&tag=…[&platform=…]; import (fromSrc) stays in routes/images.ts. */
/**
 * Runs a pull or push as a JSON progress stream; a client that goes away
 * cancels it (and its connection is dropped, as there is no one to tell).
 */
async function streamProgress(
  ctx: RequestContext,
  work: (signal: AbortSignal, progress: (e: Parameters<typeof jsonMessage>[0]) => void) => Promise<unknown>,
): Promise<void> {
  const signal = abortOnDisconnect(ctx);
  const out = new JsonLineStream(ctx);
  try {
    await work(signal, (e) => out.write(jsonMessage(e)));
    out.end();
  } catch (err) {
    if (signal.aborted) ctx.res!.destroy();
    else out.fail(err);
  }
}

export async function pullImage(engine: Engine, ctx: RequestContext, image: string): Promise<void> {
  const q = ctx.query;
  await streamProgress(ctx, (signal, progress) =>
    engine.distribution.pull({
      image,
      tag: q.get('tag') || undefined,
      platform: q.get('platform') || undefined,
      credentials: registryAuth(ctx),
      signal,
      progress,
    }),
  );
}

async function pushImage(engine: Engine, ctx: RequestContext): Promise<void> {
  await streamProgress(ctx, (signal, progress) =>
    engine.distribution.push({
      name: ctx.params.name,
      tag: ctx.query.get('tag') || undefined,
      credentials: registryAuth(ctx),
      signal,
      progress,
    }),
  );
}

async function login(engine: Engine, ctx: RequestContext): Promise<void> {
  const body = await readJsonBody(ctx);
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('the login request needs a JSON body with username, password and serveraddress');
  }
  const identityToken = await engine.distribution.login(credentialsOf(body as AuthConfig));
  replyJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: identityToken });
}

export function registerDistributionRoutes(router: Router, engine: Engine): void {
  router
    .add('POST', '/images/{name*}/push', (ctx) => pushImage(engine, ctx))
    .add('POST', '/auth', (ctx) => login(engine, ctx));
}
