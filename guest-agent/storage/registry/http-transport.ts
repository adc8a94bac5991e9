// HTTP(S) requests to registries: keep-alive agents, a connect deadline so an
// unreachable registry fails in seconds rather than minutes, a deadline for
// the response headers, an idle deadline for bodies, redirects (blob
// downloads are often redirected to storage), and errors that name the
// registry and say what went wrong in words.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { EngineError } from '../../errors.js';

export interface Deadlines {
  /** TCP (and TLS) connection established. */
  connectMs: number;
  /** Response headers after the request was sent. */
  headersMs: number;
  /** No body bytes for this long ends the transfer. */
  idleMs: number;
}

export const DEFAULT_DEADLINES: Deadlines = { connectMs: 5_000, headersMs: 30_000, idleMs: 60_000 };

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer is replayable (redirects); a stream is sent once. */
  body?: Buffer | Readable;
  /** Accept any TLS certificate (insecure registries). */
  skipTlsVerify?: boolean;
  signal?: AbortSignal;
  deadlines?: Partial<Deadlines>;
  /** Called for each chunk of a streamed body as it is written (upload progress). */
  onBodyBytes?: (n: number) => void;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The final URL, after redirects. */
  url: URL;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 5;

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
  httpsInsecure: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }),
};

/** Network-level failure: the registry could not be reached or stopped answering. */
export class RegistryUnreachableError extends EngineError {
  constructor(
    readonly host: string,
    readonly reason: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super('unavailable', message);
  }
}

function describeNetworkError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by peer';
    case 'EHOSTUNREACH':
      return 'no route to host';
    case 'ENETUNREACH':
      return 'network is unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host';
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'TLS handshake failed (the registry may speak plain HTTP)';
    default:
      return err.message || String(err.code ?? err);
  }
}

function unreachable(req: HttpRequest, url: URL, cause: string, code?: string): RegistryUnreachableError {
  return new RegistryUnreachableError(
    url.host,
    cause,
    code,
    `cannot reach the registry ${url.host}: ${req.method} "${url.href}": ${cause}`,
  );
}

function sendOnce(req: HttpRequest, url: URL): Promise<HttpResponse> {
  const deadlines = { ...DEFAULT_DEADLINES, ...req.deadlines };
  const isHttps = url.protocol === 'https:';
  const agent = isHttps ? (req.skipTlsVerify ? agents.httpsInsecure : agents.https) : agents.http;
  const headers: Record<string, string> = { 'User-Agent': 'berth-engine', ...req.headers };
  if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, why: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(unreachable(req, url, why, 'ETIMEDOUT')), ms);
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(err);
      }
      request.destroy();
    };
    const onAbort = () => fail(new EngineError('unavailable', `${req.method} ${url.href}: canceled`));
    const mod = isHttps ? https : http;
    const request = mod.request(url, { method: req.method, headers, agent });
    if (req.signal) {
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener('abort', onAbort, { once: true });
    }
    request.on('socket', (socket) => {
      const connecting = (socket as { connecting?: boolean }).connecting;
      if (connecting) {
        arm(deadlines.connectMs, `no connection within ${deadlines.connectMs / 1000} s`);
        socket.once(isHttps ? 'secureConnect' : 'connect', () =>
          arm(deadlines.headersMs, `no response within ${deadlines.headersMs / 1000} s`),
        );
      } else {
        arm(deadlines.headersMs, `no response within ${deadlines.headersMs / 1000} s`);
      }
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      fail(unreachable(req, url, describeNetworkError(err), err.code));
    });
    request.on('response', (res) => {
      clearTimeout(timer);
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      // From here the body's reader owns the stream; a stalled body is cut after idleMs.
      res.socket?.setTimeout(deadlines.idleMs, () =>
        res.destroy(
          unreachable(req, url, `the transfer stalled for ${deadlines.idleMs / 1000} s`, 'ETIMEDOUT'),
        ),
      );
      // Node would say only "aborted" when the registry hangs up in the middle of
      // a body; this listener runs before Node's and names what happened.
      const socket = res.socket;
      const onHangUp = () => {
        if (!res.complete)
          res.destroy(
            unreachable(
              req,
              url,
              'the registry closed the connection in the middle of the response',
              'ECONNRESET',
            ),
          );
      };
      socket?.prependOnceListener('close', onHangUp);
      const done = () => {
        socket?.removeListener('close', onHangUp);
        res.socket?.setTimeout(0);
        req.signal?.removeEventListener('abort', onAbort);
      };
      res.once('end', done);
      res.once('close', done);
      if (req.signal) {
        req.signal.addEventListener('abort', () => res.destroy(new Error('canceled')), { once: true });
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    const body = req.body;
    if (body === undefined) request.end();
    else if (Buffer.isBuffer(body)) request.end(body);
    else {
      body.on('error', (err) => fail(err));
      body.on('data', (chunk: Buffer) => {
        req.onBodyBytes?.(chunk.length);
        if (!request.write(chunk)) {
          body.pause();
          request.once('drain', () => body.resume());
        }
      });
      body.on('end', () => request.end());
    }
  });
}

/** One request, following redirects (Authorization is dropped when the origin changes). */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  let headers = { ...req.headers };
  for (let hop = 0; ; hop++) {
    const res = await sendOnce({ ...req, headers }, url);
    const location = res.headers.location;
    const redirect = [301, 302, 303, 307, 308].includes(res.status) && location;
    if (!redirect || (req.body !== undefined && !Buffer.isBuffer(req.body))) return res;
    if (hop >= MAX_REDIRECTS) {
      res.body.resume();
      throw new EngineError(
        'unavailable',
        `${req.method} "${req.url.href}": the registry ${url.host} redirected more than ${MAX_REDIRECTS} times (a redirect loop?)`,
      );
    }
    res.body.resume();
    const next = new URL(location, url);
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(
        Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
      );
    }
    url = next;
  }
}

/** The whole body, refusing more than limit bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > limit) {
    res.body.destroy();
    throw new EngineError('invalid', `${what} from ${res.url.host} is too large (${declared} bytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new EngineError('invalid', `${what} from ${res.url.host} is too large (over ${limit} bytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drain and forget a body (so the connection can be reused). */
export function discard(res: HttpResponse): void {
  res.body.resume();
}
