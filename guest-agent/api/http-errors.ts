// Domain errors → HTTP statuses and dockerd's `{"message": …}` body. The
// Content-Type must be exactly application/json: the Go client only parses
// the body as JSON when it is.
import type { ServerResponse } from 'node:http';
import { EngineError, type ErrorKind } from '../errors.js';
import { log } from '../util/logger.js';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'not-modified': 304,
  'not-implemented': 501,
  unavailable: 503,
  internal: 500,
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof EngineError) return STATUS[err.kind];
  if (fromClientInput(err)) return 400;
  return 500;
}

/**
 * System errors that only a client's name or path can cause: one too long for
 * the filesystem, or holding a NUL byte (which no file name may have).
 */
function fromClientInput(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'ENAMETOOLONG') return true;
  return e?.code === 'ERR_INVALID_ARG_VALUE' && /without null bytes/.test(e.message);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorBody(err: unknown): string {
  return JSON.stringify({ message: messageOf(err) }) + '\n';
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = statusOf(err);
  if (status >= 500) log.error('request failed', { error: messageOf(err), stack: (err as Error)?.stack });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 304) {
    res.writeHead(304).end();
    return;
  }
  const body = errorBody(err);
  // The rest of a too-large body is never read: once the answer is out, the connection goes.
  if (status === 413) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => res.socket?.destroy());
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
