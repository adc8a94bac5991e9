// `berth system dial-stdio`: stdin and stdout joined to the engine's socket, as
// `docker system dial-stdio` does, so that an ssh:// client on another machine
// (docker's or berth's) reaches this machine's engine through berth.
import net from 'node:net';
import tls from 'node:tls';
import { CliError, type CommandHandler } from '../command-context.js';
import type { Endpoint } from '../engine-endpoint.js';

function connect(endpoint: Endpoint): net.Socket {
  if (endpoint.kind === 'unix') return net.connect({ path: endpoint.socketPath, allowHalfOpen: true });
  if (endpoint.kind === 'ssh')
    throw new CliError(`dial-stdio reaches a local engine only, not ${endpoint.host}`);
  if (!endpoint.tls)
    return net.connect({ host: endpoint.hostname, port: endpoint.port, allowHalfOpen: true });
  const socket = tls.connect({
    host: endpoint.hostname,
    port: endpoint.port,
    ca: endpoint.tls.ca,
    cert: endpoint.tls.cert,
    key: endpoint.tls.key,
    rejectUnauthorized: endpoint.tls.verify,
  });
  socket.allowHalfOpen = true;
  return socket;
}

export const dialStdio: CommandHandler = (ctx) =>
  new Promise<number>((resolve, reject) => {
    const socket = connect(ctx.endpoint);
    socket.once('error', reject);
    // The client's end of input is a half-close: the engine's answer still comes back.
    ctx.io.stdin.pipe(socket);
    socket.pipe(ctx.io.stdout as NodeJS.WritableStream, { end: false });
    socket.once('end', () => {
      (ctx.io.stdin as NodeJS.ReadStream).unpipe?.(socket);
      (ctx.io.stdin as NodeJS.ReadStream).destroy?.();
      resolve(0);
    });
  });
