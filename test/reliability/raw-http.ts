// Raw HTTP/1.1 over a unix socket, byte for byte as given: what a fuzzer needs
// and an HTTP client library would refuse to send (bad UTF-8, huge headers,
// lying lengths, half-closed sockets).
import net from 'node:net';

export interface RawResponse {
  /** 0 when no status line came back (connection closed or timed out first). */
  status: number;
  headers: string;
  body: Buffer;
  timedOut: boolean;
  ms: number;
  /** The socket error, if one ended the exchange. */
  error?: string;
}

export interface RawRequestOptions {
  /**
   * Half-close the write side after sending. Off by default: Node's HTTP
   * server drops the requests of a client that half-closes, as many servers do.
   */
  end?: boolean;
  timeoutMs?: number;
}

/** Sends `data` and reads until the server closes or one whole Content-Length response is in. */
export function rawRequest(
  socketPath: string,
  data: Buffer | string,
  opts: RawRequestOptions = {},
): Promise<RawResponse> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    let error: string | undefined;
    const finish = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const head = split >= 0 ? raw.subarray(0, split).toString('latin1') : raw.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const rawBody = split >= 0 ? raw.subarray(split + 4) : Buffer.alloc(0);
      resolve({
        status,
        headers: head,
        body: /\r\ntransfer-encoding: *chunked/i.test(head) ? dechunk(rawBody) : rawBody,
        timedOut,
        ms: performance.now() - t0,
        error,
      });
    };
    const timer = setTimeout(() => finish(true), opts.timeoutMs ?? 15_000);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      // With Content-Length, the response is whole once that many body bytes are in.
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(raw.subarray(0, split).toString('latin1'))?.[1];
      if (len !== undefined && raw.length - split - 4 >= Number(len)) finish(false);
    });
    sock.on('end', () => finish(false));
    sock.on('close', () => finish(false));
    sock.on('error', (err) => {
      error = err.message;
      finish(false);
    });
    sock.on('connect', () => {
      sock.write(data);
      if (opts.end) sock.end();
    });
  });
}

/** A request with Connection: close and, when a body is given, its length. */
export function httpText(
  method: string,
  target: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Buffer {
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: engine', 'Connection: close'];
  if (b) lines.push('Content-Type: application/json', `Content-Length: ${b.length}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), b ?? Buffer.alloc(0)]);
}

/** The data of a chunked body, as far as it goes. */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < raw.length) {
    const eol = raw.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
