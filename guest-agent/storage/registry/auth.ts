// Registry authentication: the challenges a registry answers /v2/ with
// (WWW-Authenticate), Bearer tokens from the realm it names (anonymous, with
// username/password as Basic, or with an identity token as an OAuth refresh
// token), and Basic auth sent on every request.
import { EngineError } from '../../errors.js';
import { readBody, send, type HttpResponse } from './http-transport.js';

/** What the client (X-Registry-Auth, /auth) hands the engine. */
export interface Credentials {
  username?: string;
  password?: string;
  /** A refresh token a previous login returned. */
  identityToken?: string;
  /** A bearer token to use as is. */
  registryToken?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Docker's client id at token servers. */
const CLIENT_ID = 'docker';
const MAX_TOKEN_RESPONSE = 1024 * 1024;

export const unauthorized = (message: string) => new EngineError('unauthorized', message);

/** Parse WWW-Authenticate: `Bearer realm="…",service="…"`, `Basic realm="…"`, possibly several. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const out: Challenge[] = [];
  for (const value of values) {
    const re = /\s*([A-Za-z][\w-]*)(?:\s+|$)((?:[\w-]+=(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/gy;
    let m: RegExpExecArray | null;
    while ((m = re.exec(value)) && m[0] !== '') {
      const params: Record<string, string> = {};
      const pr = /([\w-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = pr.exec(m[2] ?? ''))) {
        params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
      }
      out.push({ scheme: m[1]!.toLowerCase(), params });
    }
  }
  return out;
}

function hasBasic(c: Credentials): boolean {
  return !!c.username && c.password !== undefined && c.password !== '';
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

interface TokenResponse {
  token?: string;
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
}

/** The token server's own words for a refusal ({"details": …} or registry-style errors). */
function tokenServerReason(bytes: Buffer): string | undefined {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as {
      details?: string;
      errors?: Array<{ message?: string }>;
      error_description?: string;
    };
    return body.details ?? body.error_description ?? body.errors?.[0]?.message;
  } catch {
    return undefined;
  }
}

/**
 * Authorization for one registry: remembers its challenge and hands out the
 * header for a set of scopes, fetching (and caching) bearer tokens as needed.
 */
export class Authorizer {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { header: string; expires: number }>();
  /** A refresh token the token server returned (login with offline access). */
  refreshToken: string | undefined;

  constructor(
    readonly host: string,
    private readonly credentials: Credentials,
    private readonly opts: { skipTlsVerify: boolean; signal?: AbortSignal; offlineAccess?: boolean },
  ) {}

  /** Learn how the registry wants to be authenticated from a 401 response. */
  learn(res: HttpResponse): boolean {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const chosen =
      challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ??
      challenges.find((c) => c.scheme === 'basic');
    if (!chosen) return false;
    const changed = JSON.stringify(chosen) !== JSON.stringify(this.challenge);
    this.challenge = chosen;
    if (changed) this.tokens.clear();
    return true;
  }

  get required(): boolean {
    return this.challenge !== undefined;
  }

  /** Scopes the last challenge asked for beyond ours (a registry may name them). */
  challengedScope(): string | undefined {
    return this.challenge?.params.scope;
  }

  /** Forget cached tokens (after a 401 with a token: it expired or lacks a scope). */
  reset(): void {
    this.tokens.clear();
  }

  async header(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      if (!hasBasic(this.credentials)) {
        // Not a 401 (dockerd answers 500 here too): on a 401 the CLI would prompt for a login.
        throw new EngineError(
          'internal',
          `no basic auth credentials: the registry ${this.host} requires a login ("docker login ${this.host}")`,
        );
      }
      return basicHeader(this.credentials);
    }
    if (c.scheme !== 'bearer') return undefined;
    if (this.credentials.registryToken) return `Bearer ${this.credentials.registryToken}`;
    const key = [...scopes].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.header;
    const token = await this.fetchToken(c.params, scopes);
    this.tokens.set(key, token);
    return token.header;
  }

  private async fetchToken(
    params: Record<string, string>,
    scopes: string[],
  ): Promise<{ header: string; expires: number }> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw new EngineError(
        'internal',
        `the registry ${this.host} named an invalid token realm "${params.realm}"`,
      );
    }
    const creds = this.credentials;
    let res: HttpResponse;
    if (creds.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: CLIENT_ID,
      });
      if (params.service) form.set('service', params.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await send({
        method: 'POST',
        url: realm,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        skipTlsVerify: this.opts.skipTlsVerify,
        signal: this.opts.signal,
      });
    } else {
      const url = new URL(realm);
      if (params.service) url.searchParams.set('service', params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (hasBasic(creds)) {
        headers.Authorization = basicHeader(creds);
        if (this.opts.offlineAccess) {
          url.searchParams.set('offline_token', 'true');
          url.searchParams.set('client_id', CLIENT_ID);
        }
      }
      res = await send({
        method: 'GET',
        url,
        headers,
        skipTlsVerify: this.opts.skipTlsVerify,
        signal: this.opts.signal,
      });
    }
    const bytes = await readBody(res, MAX_TOKEN_RESPONSE, 'the token response');
    if (res.status === 401 || res.status === 403) {
      const why = tokenServerReason(bytes) ?? 'incorrect username or password';
      throw unauthorized(`unauthorized: ${why}`);
    }
    if (res.status !== 200) {
      throw new EngineError(
        'internal',
        `the token server ${realm.host} for ${this.host} answered ${res.status}${tokenServerReason(bytes) ? `: ${tokenServerReason(bytes)}` : ''}`,
      );
    }
    let body: TokenResponse;
    try {
      body = JSON.parse(bytes.toString('utf8')) as TokenResponse;
    } catch {
      throw new EngineError('internal', `the token server ${realm.host} answered with invalid JSON`);
    }
    const token = body.token || body.access_token;
    if (!token) throw new EngineError('internal', `the token server ${realm.host} returned no token`);
    if (body.refresh_token) this.refreshToken = body.refresh_token;
    // Renew a little early; tokens without a lifetime get docker's default of 60 s.
    const lifetime = Math.max(10, (body.expires_in ?? 60) - 5) * 1000;
    return { header: `Bearer ${token}`, expires: Date.now() + lifetime };
  }
}
