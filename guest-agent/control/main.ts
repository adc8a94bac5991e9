// berth-guest-control: the guest's end of the host↔guest channel. Started and
// supervised by the guest init; serves the host's ssh2 connections over the
// virtio-serial port.
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { AUTHORIZED_KEY_PARAM, CONTROL_PORT_NAME, GUEST_CONTROL_SOCKET } from '../../common/control.js';
import { ControlServer } from './server.js';
import { servePort } from './virtio-port.js';

function log(msg: string): void {
  process.stderr.write(`berth-guest-control: ${msg}\n`);
}

/** The host's key from the kernel command line (berth.key=BASE64). */
function keyFromCmdline(): string | undefined {
  const cmdline = readFileSync('/proc/cmdline', 'utf8');
  const m = new RegExp(`(?:^|\\s)${AUTHORIZED_KEY_PARAM.replace('.', '\\.')}=(\\S+)`).exec(cmdline);
  return m ? `ssh-ed25519 ${m[1]}` : undefined;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: `/dev/virtio-ports/${CONTROL_PORT_NAME}` },
    'authorized-key': { type: 'string' },
    socket: { type: 'string', default: GUEST_CONTROL_SOCKET },
  },
});
const authorizedKey = values['authorized-key'] ?? keyFromCmdline();
if (!authorizedKey) {
  log(`no host key: pass --authorized-key or ${AUTHORIZED_KEY_PARAM}= on the kernel command line`);
  process.exit(1);
}
const server = new ControlServer({
  authorizedKey,
  log,
  // The init (pid 1) treats SIGUSR2 as poweroff, as busybox's poweroff does.
  onShutdown: () => process.kill(1, 'SIGUSR2'),
});
// `berth vm ssh` arrives here, tunnelled by the host's own connection, and authenticates as the host does.
rmSync(values.socket!, { force: true });
const local = net.createServer((s) => server.serve(s));
local.listen({ path: values.socket!, readableAll: false, writableAll: false });
log(`serving ${values.port} and ${values.socket}`);
await servePort(values.port!, (stream) => server.serve(stream), `berth-guest-control ${process.pid} started`);
