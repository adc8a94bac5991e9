// Where the API listens, and who may connect: unix sockets made 0660 and
// owned by the engine's group (dockerd's --group), and TCP only with TLS and
// client certificates (dockerd's --tlsverify), never in the clear.
import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { createApiServer, type ApiServer, type TlsOptions } from './server.js';

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface TlsFlags {
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

/** -H values as dockerd reads them; throws with what to write instead. */
export function parseHosts(hosts: string[], tls: TlsFlags): ListenAddress[] {
  return hosts.map((h) => {
    if (h.startsWith('unix://')) return { kind: 'unix', path: h.slice('unix://'.length) };
    if (h.startsWith('/')) return { kind: 'unix', path: h };
    if (h.startsWith('fd://'))
      throw new Error(`socket activation (${h}) is not supported: use -H unix:///path.sock`);
    if (h.startsWith('tcp://')) {
      const url = new URL(h.replace(/^tcp:/, 'http:'));
      const port = Number(url.port || 2376);
      if (!tls.tlsverify)
        throw new Error(
          `refusing to listen on ${h} without TLS client verification: anyone who can reach it would be root; add --tlsverify --tlscacert --tlscert --tlskey, or use a unix socket`,
        );
      return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port };
    }
    throw new Error(`cannot listen on ${h}: use unix:///path.sock or tcp://host:port with --tlsverify`);
  });
}

/** The certificates of --tlsverify, read once at start. */
export function loadTls(tls: TlsFlags): TlsOptions {
  const need = (name: keyof TlsFlags) => {
    const file = tls[name];
    if (typeof file !== 'string' || !file) throw new Error(`--tlsverify needs --${name}`);
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read --${name} ${file}: ${(err as Error).message}`);
    }
  };
  return { ca: need('tlscacert'), cert: need('tlscert'), key: need('tlskey') };
}

/** The gid of a group in /etc/group, or undefined. */
export async function groupId(name: string): Promise<number | undefined> {
  const text = await fs.readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && /^\d+$/.test(gid ?? '')) return Number(gid);
  }
  return undefined;
}

/** A socket file nobody answers on is left from a crash: remove it; a live one is an error. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  const inUse = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (inUse) throw new Error(`${socketPath} is in use by another daemon: stop it or choose another -H path`);
  await fs.rm(socketPath, { force: true });
}

/**
 * Starts one server per address. A unix socket is created 0660 (the umask
 * covers the moment between bind and chmod) and given to `gid` when set.
 */
export async function listen(
  engine: Engine,
  addresses: ListenAddress[],
  opts: { gid?: number; tls?: TlsOptions },
): Promise<ApiServer[]> {
  const servers: ApiServer[] = [];
  for (const a of addresses) {
    const server = createApiServer(engine, a.kind === 'tcp' ? opts.tls : undefined);
    if (a.kind === 'unix') {
      await fs.mkdir(path.dirname(a.path), { recursive: true });
      await clearStaleSocket(a.path);
      const umask = process.umask(0o117);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(a.path, () => resolve());
        });
      } finally {
        process.umask(umask);
      }
      await fs.chmod(a.path, 0o660);
      if (opts.gid !== undefined) await fs.chown(a.path, 0, opts.gid);
    } else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(a.port, a.host, () => resolve());
      });
    }
    servers.push(server);
  }
  return servers;
}
