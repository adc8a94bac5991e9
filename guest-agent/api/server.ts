// The Docker Engine API over HTTP: version prefixes, dockerd's headers on
// every response, routing, and Upgrade (hijacked) requests.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { API_VERSION, ENGINE_COMPAT_VERSION, MIN_API_VERSION } from '../../common/engine-api.js';
import type { Engine } from '../engine/engine.js';
import { HttpError, sendError, statusOf } from './http-errors.js';
import { requestLogger } from './request-log.js';
import { writeUpgradeError } from './http-io.js';
import { Router, type RequestContext } from './router.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerContainerRoutes } from './routes/containers.js';
import { registerExecRoutes } from './routes/exec.js';
import { registerImageRoutes } from './routes/images.js';
import { registerVolumeRoutes } from './routes/volumes.js';
import { registerArchiveRoutes } from './routes/archive.js';
import { registerNetworkRoutes } from './routes/networks.js';
import { registerDistributionRoutes } from './routes/distribution.js';
import { registerBuildRoutes } from './routes/build.js';
import { registerBerthRoutes } from './routes/berth.js';
import { registerNotInBerthRoutes } from './routes/not-in-berth.js';

const VERSIONED = /^\/v(\d+)\.(\d+)(\/.*)$/;

function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

export function buildRouter(engine: Engine): Router {
  const router = new Router();
  registerSystemRoutes(router, engine);
  registerContainerRoutes(router, engine);
  registerExecRoutes(router, engine);
  registerImageRoutes(router, engine);
  registerVolumeRoutes(router, engine);
  registerArchiveRoutes(router, engine);
  registerNetworkRoutes(router, engine);
  registerDistributionRoutes(router, engine);
  registerBuildRoutes(router, engine);
  registerBerthRoutes(router, engine);
  registerNotInBerthRoutes(router);
  return router;
}

export type ApiServer = http.Server | https.Server;

/** PEM certificates for a TCP listener: the server's own, and the CA its clients' must chain to. */
export interface TlsOptions {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The API over plain HTTP (for unix sockets), or over TLS demanding a client certificate from `tls.ca`. */
export function createApiServer(engine: Engine, tls?: TlsOptions): ApiServer {
  const router = buildRouter(engine);
  const httpOptions = { requestTimeout: 0, keepAliveTimeout: 60_000 };
  const server = tls
    ? https.createServer({ ...httpOptions, ...tls, requestCert: true, rejectUnauthorized: true })
    : http.createServer(httpOptions);
  // A hijacked stream's client half-closes when its input ends (docker's
  // CloseWrite: a TLS close_notify) and still reads the output. The plain
  // server's sockets stay half-open for that already; TLS ones would close.
  if (tls) server.on('secureConnection', (socket: Duplex) => (socket.allowHalfOpen = true));

  const dispatch = async (
    req: http.IncomingMessage,
    res?: http.ServerResponse,
    upgrade?: { socket: Duplex; head: Buffer },
  ) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    let pathname = url.pathname.replace(/\/+$/, '') || '/';
    let apiVersion = API_VERSION;
    const versioned = VERSIONED.exec(pathname);
    if (versioned) {
      apiVersion = `${versioned[1]}.${versioned[2]}`;
      pathname = versioned[3];
    }
    const method = req.method ?? 'GET';
    const logRequest = requestLogger(method, req.url ?? '/');
    if (res) {
      res.once('close', () => logRequest(res.statusCode));
      res.setHeader('Api-Version', API_VERSION);
      res.setHeader('Docker-Experimental', 'false');
      res.setHeader('Ostype', 'linux');
      res.setHeader('Server', `Docker/${ENGINE_COMPAT_VERSION} (linux)`);
    }
    try {
      if (compareVersions(apiVersion, API_VERSION) > 0) {
        throw new HttpError(
          400,
          `client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`,
        );
      }
      if (compareVersions(apiVersion, MIN_API_VERSION) < 0) {
        throw new HttpError(
          400,
          `client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        );
      }
      const match = router.match(method, pathname);
      if (!match) throw new HttpError(404, 'page not found');
      if (match === 'method-not-allowed')
        throw new HttpError(405, `method ${method} not allowed for ${pathname}`);
      const ctx: RequestContext = {
        method,
        path: pathname,
        params: match.params,
        route: match.route,
        query: url.searchParams,
        apiVersion,
        req,
        res,
        upgrade,
      };
      await match.handler(ctx);
      if (upgrade) logRequest(101);
    } catch (err) {
      if (upgrade) {
        writeUpgradeError(upgrade.socket, err);
        logRequest(statusOf(err));
      } else if (res) sendError(res, err);
    }
  };

  server.on('request', (req, res) => void dispatch(req, res));
  server.on('upgrade', (req, socket, head) => void dispatch(req, undefined, { socket, head }));
  server.on('clientError', (err, socket) => {
    if (!socket.writable) return;
    const body = JSON.stringify({ message: `bad request: ${err.message}` });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
