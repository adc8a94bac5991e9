// A client for one repository of a Docker Registry HTTP API v2 server: the
// /v2/ ping that picks a working endpoint and learns the auth scheme,
// manifests, blobs (download, existence, cross-repository mount, streamed
// upload) and tags. Errors carry the registry's own error code so that the
// engine can phrase them as dockerd does.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { EngineError, type ErrorKind } from '../../errors.js';
import { Authorizer, unauthorized, type Credentials } from './auth.js';
import type { Endpoint, RegistryConfig } from './endpoints.js';
import { discard, readBody, RegistryUnreachableError, send, type HttpResponse } from './http-transport.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from './manifest.js';

export type Action = 'pull' | 'push';

/** An error the registry answered with ({"errors":[{"code","message"}]}). */
export class RegistryError extends EngineError {
  constructor(
    kind: ErrorKind,
    readonly status: number,
    /** The registry's error code, e.g. MANIFEST_UNKNOWN, or '' when it gave none. */
    readonly code: string,
    readonly detail: string,
  ) {
    super(kind, detail);
  }
}

function kindOf(status: number): ErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 400 || status === 405 || status === 413) return 'invalid';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'internal';
}

async function registryError(res: HttpResponse, doing: string): Promise<RegistryError> {
  const bytes = await readBody(res, 64 * 1024, 'the error response').catch(() => Buffer.alloc(0));
  let code = '';
  let message = '';
  try {
    const body = JSON.parse(bytes.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const first = body.errors?.[0];
    code = first?.code ?? '';
    message = first?.message ?? '';
  } catch {
    // Not the registry's JSON (a proxy's page, an empty body): the status says it.
  }
  // distribution renders an error as "<code in words>: <message>", e.g. "manifest unknown: manifest unknown".
  const detail = code
    ? `${code.toLowerCase().replace(/_/g, ' ')}: ${message || code.toLowerCase().replace(/_/g, ' ')}`
    : `${doing}: unexpected status ${res.status} from ${res.url.host}`;
  return new RegistryError(kindOf(res.status), res.status, code, detail);
}

export interface Manifest {
  bytes: Buffer;
  contentType: string;
  /** sha256 of the bytes as received, verified against a requested digest. */
  digest: string;
}

export interface ConnectOptions {
  /** The registry's name as in references ("docker.io", "127.0.0.1:5000"). */
  domain: string;
  /** The repository path ("library/busybox"). */
  repository: string;
  credentials: Credentials;
  config: RegistryConfig;
  actions: Action[];
  signal?: AbortSignal;
  /** Ask the token server for a refresh token (login). */
  offlineAccess?: boolean;
  /** Try only the endpoints after this one (a mirror that could not serve a pull). */
  after?: Endpoint;
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class RegistryClient {
  private constructor(
    readonly endpoint: Endpoint,
    readonly domain: string,
    readonly repository: string,
    private readonly auth: Authorizer,
    private readonly scopes: string[],
    private readonly signal: AbortSignal | undefined,
  ) {}

  /**
   * Ping /v2/ on each endpoint of the registry and keep the first that answers
   * as a Docker registry. A 401 there is fine: it says how to authenticate.
   */
  static async connect(opts: ConnectOptions): Promise<RegistryClient> {
    let lastError: Error | undefined;
    const pullOnly = opts.actions.length > 0 && opts.actions.every((a) => a === 'pull');
    const all = opts.config.endpoints(opts.domain, { pull: pullOnly });
    const start = opts.after ? all.findIndex((e) => e.base.href === opts.after!.base.href) + 1 : 0;
    for (const endpoint of all.slice(start)) {
      const auth = new Authorizer(opts.domain, opts.credentials, {
        skipTlsVerify: endpoint.skipTlsVerify,
        signal: opts.signal,
        offlineAccess: opts.offlineAccess,
      });
      try {
        const res = await send({
          method: 'GET',
          url: new URL('/v2/', endpoint.base),
          skipTlsVerify: endpoint.skipTlsVerify,
          signal: opts.signal,
          deadlines: { headersMs: 15_000 },
        });
        discard(res);
        if (res.status === 401) auth.learn(res);
        else if (res.status !== 200) {
          lastError = new EngineError(
            'internal',
            `${endpoint.base.host} does not look like a registry: GET ${new URL('/v2/', endpoint.base).href} answered ${res.status}`,
          );
          continue;
        }
        const scope = `repository:${opts.repository}:${opts.actions.join(',')}`;
        return new RegistryClient(endpoint, opts.domain, opts.repository, auth, [scope], opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        lastError = err as Error;
      }
    }
    throw lastError ?? new EngineError('internal', `no endpoints for the registry ${opts.domain}`);
  }

  /** The refresh token a login with offline access obtained. */
  get refreshToken(): string | undefined {
    return this.auth.refreshToken;
  }

  /** Check the credentials: GET /v2/ with authorization (registry-wide, no repository scope). */
  async login(): Promise<void> {
    const url = new URL('/v2/', this.endpoint.base);
    const res = await this.request('GET', url, { scopes: [] });
    discard(res);
    if (res.status !== 200) {
      const err = unauthorized(
        `login attempt to ${url.href} failed with status: ${res.status} ${statusText(res.status)}`,
      );
      if (res.status !== 401) throw new EngineError('internal', err.message);
      throw err;
    }
  }

  private url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.endpoint.base);
  }

  /**
   * Send with authorization; a 401 once authenticated means the token expired
   * or lacks a scope (a mount's source repository): fetch a new one and retry.
   */
  async request(
    method: string,
    url: URL,
    opts: {
      headers?: Record<string, string>;
      body?: Buffer | Readable;
      scopes?: string[];
      onBodyBytes?: (n: number) => void;
      deadlines?: { headersMs?: number };
    } = {},
  ): Promise<HttpResponse> {
    const scopes = opts.scopes ?? this.scopes;
    const replayable = opts.body === undefined || Buffer.isBuffer(opts.body);
    for (let attempt = 0; ; attempt++) {
      const authz = await this.auth.header(scopes);
      const res = await send({
        method,
        url,
        headers: { ...opts.headers, ...(authz ? { Authorization: authz } : {}) },
        body: opts.body,
        skipTlsVerify: this.endpoint.skipTlsVerify,
        signal: this.signal,
        onBodyBytes: opts.onBodyBytes,
        deadlines: opts.deadlines,
      });
      if (res.status !== 401 || attempt > 0 || !replayable || !this.auth.learn(res)) return res;
      discard(res);
      this.auth.reset();
    }
  }

  async getManifest(reference: string): Promise<Manifest> {
    const res = await this.request('GET', this.url(`manifests/${reference}`), {
      headers: { Accept: MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw await registryError(res, `fetching manifest ${reference}`);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `the manifest ${reference}`);
    const digest = digestOf(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new EngineError('invalid', `manifest verification failed for digest ${reference}`);
    }
    return { bytes, contentType: String(res.headers['content-type'] ?? ''), digest };
  }

  /** A blob's body, for the caller to read (and verify) as a stream. */
  async getBlob(digest: string): Promise<HttpResponse> {
    const res = await this.request('GET', this.url(`blobs/${digest}`));
    if (res.status !== 200) throw await registryError(res, `fetching blob ${digest}`);
    return res;
  }

  async getSmallBlob(digest: string, limit: number, what: string): Promise<Buffer> {
    return readBody(await this.getBlob(digest), limit, what);
  }

  /** The blob's size when the repository has it. */
  async blobSize(digest: string): Promise<number | undefined> {
    const res = await this.request('HEAD', this.url(`blobs/${digest}`));
    discard(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await registryError(res, `checking blob ${digest}`);
    return Number(res.headers['content-length'] ?? 0);
  }

  /** Ask the registry to link a blob from another repository; false when it started an upload instead. */
  async mountBlob(digest: string, from: string): Promise<boolean> {
    const url = this.url('blobs/uploads/');
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await this.request('POST', url, {
      scopes: [...this.scopes, `repository:${from}:pull`],
      body: Buffer.alloc(0),
    });
    discard(res);
    if (res.status === 201) return true;
    if (res.status === 202) {
      // The registry opened an upload session instead: cancel it.
      const location = res.headers.location;
      if (location) {
        const cancel = await this.request('DELETE', new URL(location, this.endpoint.base)).catch(
          () => undefined,
        );
        if (cancel) discard(cancel);
      }
      return false;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) return false;
    throw await registryError(res, `mounting blob ${digest}`);
  }

  /**
   * Upload a blob: open a session, stream the body (PATCH), then commit it
   * under the digest the caller computed while the body flowed (PUT).
   */
  async uploadBlob(
    body: Readable | Buffer,
    digest: () => string,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    const start = await this.request('POST', this.url('blobs/uploads/'), { body: Buffer.alloc(0) });
    discard(start);
    if (start.status !== 202) throw await registryError(start, 'starting a blob upload');
    let location = start.headers.location;
    if (!location) throw new EngineError('internal', `${this.domain} started an upload without a Location`);
    const patch = await this.request('PATCH', new URL(location, this.endpoint.base), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body,
      onBodyBytes: onBytes,
      deadlines: { headersMs: 120_000 },
    });
    discard(patch);
    if (patch.status !== 202) throw await registryError(patch, 'uploading a blob');
    location = patch.headers.location ?? location;
    const commit = new URL(location, this.endpoint.base);
    commit.searchParams.set('digest', digest());
    const put = await this.request('PUT', commit, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.alloc(0),
    });
    discard(put);
    if (put.status !== 201) throw await registryError(put, `committing blob ${digest()}`);
  }

  /** PUT a manifest under a tag; returns the digest the registry computed (checked against ours). */
  async putManifest(tag: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.request('PUT', this.url(`manifests/${tag}`), {
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    discard(res);
    if (res.status !== 201 && res.status !== 200) throw await registryError(res, `pushing manifest ${tag}`);
    const ours = digestOf(bytes);
    const theirs = res.headers['docker-content-digest'];
    if (typeof theirs === 'string' && theirs !== '' && theirs !== ours) {
      throw new EngineError('internal', `the registry stored manifest ${tag} as ${theirs}, expected ${ours}`);
    }
    return ours;
  }

  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | undefined = this.url('tags/list');
    for (let page = 0; url && page < 100; page++) {
      const res = await this.request('GET', url);
      if (res.status !== 200) throw await registryError(res, 'listing tags');
      const body = JSON.parse((await readBody(res, MAX_MANIFEST_BYTES, 'the tag list')).toString('utf8')) as {
        tags?: string[] | null;
      };
      tags.push(...(body.tags ?? []));
      const link = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers.link ?? ''));
      url = link ? new URL(link[1]!, this.endpoint.base) : undefined;
    }
    return tags;
  }
}

function statusText(status: number): string {
  return (
    { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[status] ?? ''
  ).trim();
}

export { RegistryUnreachableError };
