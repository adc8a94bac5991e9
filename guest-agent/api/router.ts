// A small method + path-pattern router. Patterns use `{name}` for a path
// segment and `{name*}` for the rest (image names contain slashes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from './http-errors.js';

export interface RequestContext {
  method: string;
  path: string;
  params: Record<string, string>;
  /** The route's pattern ("/containers/{id}/exec"): what request-shape checks are keyed by. */
  route: string;
  query: URLSearchParams;
  apiVersion: string;
  req: IncomingMessage;
  /** Absent for Upgrade requests, which own the raw socket instead. */
  res?: ServerResponse;
  upgrade?: { socket: Duplex; head: Buffer };
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  names: string[];
  /** Has a {name*} part: it matches many paths, so it says nothing about which methods a path has. */
  catchAll: boolean;
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    const names: string[] = [];
    const source = pattern.replace(/\{(\w+)(\*?)\}/g, (_m, name: string, rest: string) => {
      names.push(name);
      return rest ? '(.+)' : '([^/]+)';
    });
    const catchAll = /\{\w+\*\}/.test(pattern);
    this.routes.push({ method, pattern, regex: new RegExp(`^${source}$`), names, catchAll, handler });
    return this;
  }

  match(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string>; route: string } | 'method-not-allowed' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (route.method !== method && !(route.method === 'GET' && method === 'HEAD')) {
        // A 405 only for a path another method's own route names: a catch-all of another method
        // (DELETE /containers/{link*}) must leave an unknown path a 404, as clients expect.
        if (!route.catchAll) pathMatched = true;
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, name] of route.names.entries()) {
        try {
          params[name] = decodeURIComponent(m[i + 1]);
        } catch {
          throw new HttpError(
            400,
            `invalid escape in the request path: ${JSON.stringify(m[i + 1]).slice(0, 80)}`,
          );
        }
      }
      return { handler: route.handler, params, route: route.pattern };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}
