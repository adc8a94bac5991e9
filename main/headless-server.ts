// The desktop backend over HTTP + WebSocket on 127.0.0.1, for browsers and the
// UI tests (and Electron's window): the dashboard's static files, the
// contract's calls at POST /api/call/<method>, downloads and uploads, and the
// streams under /ws/. Every request carries the per-start token (cookie,
// bearer header or ?token=); anything else gets 401.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ExecControl, LiveMessage, LogsMessage, PullMessage } from '../common/desktop-api.js';
import { DesktopBackend, type BackendOptions } from './backend.js';
import { DesktopFailure, toDesktopError } from './errors.js';
import { followLogs, writeLogsText } from './streams/logs.js';
import { startExecSession } from './streams/exec-session.js';
import { pullImage } from './streams/pull.js';

export interface HeadlessServerOptions extends BackendOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** The built dashboard (dist/renderer); found next to the code by default. */
  staticDir?: string;
  /** Fixed token (tests); default a random one per start. */
  token?: string;
}

export interface HeadlessServer {
  url: string;
  /** The URL to open: it carries the token once, then a cookie does. */
  openUrl: string;
  token: string;
  port: number;
  backend: DesktopBackend;
  close(): Promise<void>;
}

const COOKIE = 'berth_token';
const MAX_JSON_BYTES = 1024 * 1024;
const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;
/** Past this much unsent data on a WebSocket, the source is paused. */
const WS_HIGH_WATER = 4 * 1024 * 1024;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** dist/renderer, from the sources (main/) or from a bundle in dist/. */
export function findStaticDir(from = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (const c of [path.join(from, 'renderer'), path.join(from, '..', 'dist', 'renderer')])
    if (existsSync(path.join(c, 'index.html'))) return c;
  return undefined;
}

export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // xterm.js and the virtual list set element styles at run time.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function tokenEquals(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return undefined;
}

function requestToken(req: http.IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  return url.searchParams.get('token') ?? cookieToken(req);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const e = toDesktopError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, e);
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new DesktopFailure(`request body over ${limit} bytes`, 413);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendWs(ws: WebSocket, m: LiveMessage | LogsMessage | PullMessage | object): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
}

function intParam(url: URL, key: string, def: number, min: number, max: number): number {
  const v = Number(url.searchParams.get(key) ?? def);
  return Number.isInteger(v) && v >= min && v <= max ? v : def;
}

export async function startHeadlessServer(opts: HeadlessServerOptions = {}): Promise<HeadlessServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const staticDir = opts.staticDir ?? findStaticDir();
  const backend = new DesktopBackend(opts);
  let port = 0;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err) => sendError(res, err));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // A page on another site cannot reach us by a name that resolves here (DNS rebinding).
    if (!allowedHosts().has(req.headers.host ?? ''))
      return sendJson(res, 421, { error: 'wrong host', status: 421 });
    const given = requestToken(req, url);
    if (!tokenEquals(given, token))
      return sendJson(res, 401, { error: 'a valid token is needed', status: 401 });
    if (url.searchParams.has('token') && req.method === 'GET' && !url.pathname.startsWith('/api/')) {
      // Trade the token in the address for a cookie, and take it out of the address bar.
      url.searchParams.delete('token');
      res.writeHead(303, {
        'set-cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        location: url.pathname + url.search,
      });
      res.end();
      return;
    }
    if (url.pathname.startsWith('/api/')) return api(req, res, url);
    return serveStatic(res, url);
  }

  async function api(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const call = url.pathname.match(/^\/api\/call\/([a-z]+\.[A-Za-z]+)$/);
    if (call) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST', status: 405 });
      const method = call[1];
      if (!backend.isMethod(method))
        return sendJson(res, 404, { error: `no such method: ${method}`, status: 404 });
      const body = await readBody(req, MAX_JSON_BYTES);
      let params: unknown = {};
      if (body.length > 0) {
        try {
          params = JSON.parse(body.toString('utf8'));
        } catch {
          throw new DesktopFailure('the request body is not JSON', 400);
        }
      }
      const result = await backend.call(method, params as never);
      return sendJson(res, 200, { result: result ?? null });
    }
    const m = url.pathname.match(/^\/api\/containers\/([A-Za-z0-9_.-]+)\/(logs|archive)$/);
    if (m) {
      const [, id, what] = m;
      if (what === 'logs' && req.method === 'GET') {
        await backend.containers.inspect(id); // 404 before any header goes out
        res.writeHead(200, {
          'content-type': 'text/plain; charset=utf-8',
          'content-disposition': `attachment; filename="${id.slice(0, 12)}.log"`,
        });
        await writeLogsText(backend.engine.docker, id, res, url.searchParams.get('timestamps') === '1');
        res.end();
        return;
      }
      const p = url.searchParams.get('path') ?? '';
      if (what === 'archive' && req.method === 'GET') {
        const tar = await backend.containers.download(id, p);
        const base = path.posix.basename(p) || 'root';
        res.writeHead(200, {
          'content-type': 'application/x-tar',
          'content-disposition': `attachment; filename="${base.replace(/"/g, '')}.tar"`,
        });
        tar.pipe(res);
        return;
      }
      if (what === 'archive' && req.method === 'PUT') {
        const body = await readBody(req, MAX_UPLOAD_BYTES);
        await backend.containers.upload(id, p, url.searchParams.get('name') ?? '', body);
        return sendJson(res, 200, { result: null });
      }
    }
    return sendJson(res, 404, { error: `not found: ${req.method} ${url.pathname}`, status: 404 });
  }

  async function serveStatic(res: http.ServerResponse, url: URL): Promise<void> {
    if (!staticDir)
      return sendJson(res, 500, {
        error: 'the dashboard is not built (dist/renderer); run npm run build',
        status: 500,
      });
    let rel = decodeURIComponent(url.pathname);
    let file = path.join(staticDir, path.normalize(rel));
    if (!file.startsWith(staticDir + path.sep) && file !== staticDir)
      return sendJson(res, 404, { error: 'not found', status: 404 });
    const st = await fs.stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      // The dashboard routes by hash; every other path is the app itself.
      rel = '/index.html';
      file = path.join(staticDir, 'index.html');
    }
    const ext = path.extname(file);
    const headers: Record<string, string> = {
      'content-type': MIME[ext] ?? 'application/octet-stream',
      'x-content-type-options': 'nosniff',
      'cache-control': rel.startsWith('/assets/') ? 'max-age=31536000, immutable' : 'no-cache',
    };
    if (ext === '.html') headers['content-security-policy'] = contentSecurityPolicy(port);
    res.writeHead(200, headers);
    createReadStream(file).pipe(res);
  }

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const origin = req.headers.origin;
    const originOk = !origin || allowedHosts().has(origin.replace(/^https?:\/\//, ''));
    if (
      !allowedHosts().has(req.headers.host ?? '') ||
      !originOk ||
      !tokenEquals(requestToken(req, url), token)
    ) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      void stream(ws, url).catch((err) => {
        sendWs(ws, { type: 'error', message: toDesktopError(err).error });
        ws.close(1011);
      });
    });
  });

  async function stream(ws: WebSocket, url: URL): Promise<void> {
    const docker = backend.engine.docker;
    switch (url.pathname) {
      case '/ws/live': {
        const unsubscribe = backend.live.subscribe((m) => sendWs(ws, m));
        ws.on('close', unsubscribe);
        return;
      }
      case '/ws/logs': {
        const id = url.searchParams.get('id') ?? '';
        const tailParam = url.searchParams.get('tail');
        const follower = await followLogs(
          docker,
          id,
          {
            follow: url.searchParams.get('follow') !== '0',
            tail: tailParam === 'all' ? 'all' : intParam(url, 'tail', 1000, 0, 10_000_000),
          },
          (lines) => {
            sendWs(ws, { type: 'lines', lines } satisfies LogsMessage);
            if (ws.bufferedAmount > WS_HIGH_WATER) {
              follower.pause();
              const wait = setInterval(() => {
                if (ws.bufferedAmount < WS_HIGH_WATER / 2 || ws.readyState !== ws.OPEN) {
                  clearInterval(wait);
                  follower.resume();
                }
              }, 20);
            }
          },
          (err) => sendWs(ws, err ? { type: 'error', message: err.message } : { type: 'end' }),
        );
        ws.on('close', () => follower.close());
        return;
      }
      case '/ws/exec': {
        // Input and resizes may arrive before the exec has started: keep them until it has.
        const early: Array<{ data: Buffer; isBinary: boolean }> = [];
        let onMessage = (data: Buffer, isBinary: boolean): void => {
          early.push({ data, isBinary });
        };
        ws.on('message', (data, isBinary) => onMessage(data as Buffer, isBinary));
        const session = await startExecSession(
          docker,
          url.searchParams.get('id') ?? '',
          {
            shell: url.searchParams.get('shell') ?? 'sh',
            cols: intParam(url, 'cols', 80, 1, 1000),
            rows: intParam(url, 'rows', 24, 1, 1000),
          },
          (data) => {
            if (ws.readyState === ws.OPEN) ws.send(data);
          },
          (code) => {
            sendWs(ws, { type: 'exit', code });
            ws.close(1000);
          },
        );
        onMessage = (data, isBinary) => {
          if (isBinary) {
            session.write(data);
            return;
          }
          try {
            const c = JSON.parse(data.toString()) as ExecControl;
            if (c.type === 'resize') void session.resize(c.cols, c.rows).catch(() => undefined);
          } catch {
            // not a control message: ignore
          }
        };
        for (const m of early.splice(0)) onMessage(m.data, m.isBinary);
        ws.on('close', () => session.close());
        return;
      }
      case '/ws/pull': {
        const image = url.searchParams.get('image') ?? '';
        if (!image.trim()) throw new DesktopFailure('which image?', 400);
        const pull = await pullImage(docker, image.trim(), (m) => {
          sendWs(ws, m);
          if (m.type !== 'progress') ws.close(1000);
        });
        ws.on('close', () => pull.cancel());
        return;
      }
      default:
        throw new DesktopFailure(`no such stream: ${url.pathname}`, 404);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    openUrl: `${url}?token=${token}`,
    token,
    port,
    backend,
    close: async () => {
      backend.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
