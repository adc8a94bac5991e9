// The engine's log line for one API request, written at debug when the
// request is over: method, path, status, duration. Secrets never reach it:
// headers (X-Registry-Auth, X-Registry-Config) and bodies (/auth) are not
// logged at all, and query values that may carry credentials (build args,
// anything named like a token or password) are masked.
import { isLevelEnabled, log } from '../util/logger.js';

const SECRET_QUERY_KEY = /buildargs|auth|pass|secret|token|cred|key/i;

/** The request target with the values of credential-like query parameters masked. */
export function redactedTarget(rawUrl: string): string {
  const q = rawUrl.indexOf('?');
  if (q < 0) return rawUrl;
  const params = new URLSearchParams(rawUrl.slice(q + 1));
  const shown = [...params.entries()].map(([k, v]) =>
    SECRET_QUERY_KEY.test(k) ? `${k}=REDACTED` : `${k}=${v}`,
  );
  return `${rawUrl.slice(0, q)}?${shown.join('&')}`;
}

/** Starts timing a request; the returned function logs it once (later calls do nothing). */
export function requestLogger(method: string, rawUrl: string): (status: number) => void {
  const started = process.hrtime.bigint();
  let done = false;
  return (status: number) => {
    if (done || !isLevelEnabled('debug')) return;
    done = true;
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    log.debug('request', {
      method,
      path: redactedTarget(rawUrl),
      status,
      duration: `${durationMs.toFixed(1)}ms`,
    });
  };
}
