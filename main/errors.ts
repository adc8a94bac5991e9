// Errors the backend returns to the dashboard: a message for the user and a status.
import type { DesktopError } from '../common/desktop-api.js';

export class DesktopFailure extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

/** Any thrown value → what the dashboard shows; the engine's own message and status when it answered. */
export function toDesktopError(err: unknown): DesktopError {
  if (err instanceof DesktopFailure) return { error: err.message, status: err.status, fields: err.fields };
  const e = err as {
    statusCode?: number;
    json?: { message?: string } | null;
    reason?: string;
    message?: string;
  };
  if (typeof e?.statusCode === 'number') {
    const message = e.json?.message ?? e.reason ?? e.message ?? 'engine error';
    return { error: message, status: e.statusCode };
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED')
    return { error: `the engine is not reachable: ${(err as Error).message}`, status: 503 };
  return { error: err instanceof Error ? err.message : String(err), status: 500 };
}
