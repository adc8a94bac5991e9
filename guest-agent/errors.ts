// Errors of the engine's domain and services. They carry a kind, never an HTTP
// status: api/ maps kinds to statuses (not-found → 404, conflict → 409, …).
export type ErrorKind =
  | 'invalid' // bad input from the client (400)
  | 'not-found' // 404
  | 'conflict' // 409
  | 'not-modified' // 304
  | 'unauthorized' // 401 (registry credentials missing or refused)
  | 'forbidden' // 403
  | 'unavailable' // 503
  | 'not-implemented' // 501
  | 'internal'; // 500

export class EngineError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const invalid = (message: string) => new EngineError('invalid', message);
export const notFound = (message: string) => new EngineError('not-found', message);
export const conflict = (message: string) => new EngineError('conflict', message);
export const notModified = (message = '') => new EngineError('not-modified', message);
export const forbidden = (message: string) => new EngineError('forbidden', message);
export const notImplemented = (message: string) => new EngineError('not-implemented', message);
