// Reading requests and writing replies: JSON bodies, dockerd's query-value
// rules, streamed JSON lines, and the raw (hijacked) streams of attach/exec.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalid } from '../errors.js';
import type { RequestContext } from './router.js';
import { errorBody, HttpError, messageOf, statusOf } from './http-errors.js';
import { checkShape } from './request-shape.js';
import { REQUEST_SHAPES } from './request-shapes.generated.js';

const MAX_JSON_BODY = 16 * 1024 * 1024;

function readStream(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Reading stops here; the 413 goes out with Connection: close (sendError), then the socket goes.
        req.removeAllListeners('data');
        req.pause();
        chunks.length = 0;
        reject(new HttpError(413, `request body too large (limit ${limit} bytes)`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(`malformed JSON in request body: ${messageOf(err)}`);
  }
}

/** A body of the API's types, or a 400 naming the field that is not. */
function checked(ctx: RequestContext, body: unknown): unknown {
  checkShape(body, REQUEST_SHAPES[`${ctx.method} ${ctx.route}`]);
  return body;
}

/** The request's JSON body (undefined when empty). */
export async function readJsonBody(ctx: RequestContext): Promise<unknown> {
  return checked(ctx, parseJson((await readStream(ctx.req, MAX_JSON_BODY)).toString('utf8')));
}

/**
 * The JSON body of an Upgrade request plus any bytes that followed it (early
 * stdin). Node versions differ on whether the body is on `req` or in `head`.
 */
export async function readUpgradeBody(ctx: RequestContext): Promise<{ body: unknown; rest: Buffer }> {
  const { socket, head } = ctx.upgrade!;
  const length = Number(ctx.req.headers['content-length'] ?? 0);
  if (!length) return { body: undefined, rest: head };
  let buffered = head;
  if (buffered.length < length && ctx.req.readable && !ctx.req.readableEnded) {
    const fromReq = await Promise.race([
      readStream(ctx.req, MAX_JSON_BODY),
      new Promise<Buffer>((resolve) =>
        socket.once('data', (d: Buffer) => {
          socket.pause();
          resolve(d);
        }),
      ),
    ]);
    buffered = Buffer.concat([buffered, fromReq]);
  }
  while (buffered.length < length) {
    const more = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => {
        cleanup();
        resolve(d);
      };
      const onEnd = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
    if (!more) break;
    buffered = Buffer.concat([buffered, more]);
  }
  return {
    body: checked(ctx, parseJson(buffered.subarray(0, length).toString('utf8'))),
    rest: buffered.subarray(length),
  };
}

/** dockerd's BoolValue: "", "0", "no", "false", "none" are false. */
export function queryBool(query: URLSearchParams, key: string, fallback = false): boolean {
  const value = query.get(key);
  if (value === null) return fallback;
  return !['', '0', 'no', 'false', 'none'].includes(value.trim().toLowerCase());
}

export function queryInt(query: URLSearchParams, key: string): number | undefined {
  const value = query.get(key);
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n))
    throw invalid(`invalid value for ${key}: ${JSON.stringify(value)} is not an integer`);
  return n;
}

export function replyJson(ctx: RequestContext, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n';
  ctx.res!.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  ctx.res!.end(ctx.method === 'HEAD' ? undefined : body);
}

export function replyStatus(ctx: RequestContext, status: number): void {
  ctx.res!.writeHead(status).end();
}

/**
 * A stream of JSON objects, one per line (load, pull, build progress). The
 * headers go out with the first line; an error before that is a plain HTTP
 * error, after it an `errorDetail` line as the CLI expects.
 */
export class JsonLineStream {
  private started = false;

  constructor(private readonly ctx: RequestContext) {}

  write(value: unknown): void {
    const res = this.ctx.res!;
    if (!this.started) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      this.started = true;
    }
    res.write(JSON.stringify(value) + '\r\n');
  }

  fail(err: unknown): void {
    const res = this.ctx.res!;
    if (!this.started) {
      const body = errorBody(err);
      res.writeHead(statusOf(err), { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    res.end(JSON.stringify({ errorDetail: { message: messageOf(err) }, error: messageOf(err) }) + '\r\n');
  }

  end(): void {
    if (!this.started) this.write({});
    this.ctx.res!.end();
  }
}

export interface RawStream {
  write(data: Buffer): void;
  end(): void;
  /** Client input (stdin); null for non-upgraded requests. */
  input: Duplex | null;
  closed: Promise<void>;
}

/**
 * Take over the connection for attach/exec output. With an Upgrade header:
 * `101 UPGRADED` and the raw socket (Go clients require 101). Without: a 200
 * whose body is the stream, as dockerode's non-hijacked mode expects.
 */
export function openRawStream(ctx: RequestContext, contentType: string): RawStream {
  if (ctx.upgrade) {
    const { socket } = ctx.upgrade;
    socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    return {
      write: (data) => {
        if (!socket.destroyed && socket.writable) socket.write(data);
      },
      end: () => {
        if (!socket.destroyed) socket.end();
      },
      input: socket,
      closed,
    };
  }
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  return {
    write: (data) => {
      if (!res.writableEnded && !res.destroyed) res.write(data);
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
    input: null,
    closed,
  };
}

/** An error on an Upgrade request, before the switch: a plain HTTP response on the socket. */
export function writeUpgradeError(socket: Duplex, err: unknown): void {
  const status = statusOf(err);
  const body = status === 304 ? '' : errorBody(err);
  socket.end(
    `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 409 ? 'Conflict' : status === 400 ? 'Bad Request' : 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
