// Shared by the network tests: a refusal to run outside a private network
// namespace, services with their own state dirs, container namespaces, small
// servers run inside them, and the removal of everything these leave.
import type { TestContext } from 'node:test';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { createNetns, removeNetns } from '../../guest-agent/network/netns.js';
import { NetworkService } from '../../guest-agent/network/network-service.js';
import type { NetworkServiceOptions } from '../../guest-agent/network/network-types.js';
import { Iptables } from '../../guest-agent/network/iptables.js';
import { run, spawnProcess } from '../../guest-agent/util/subprocess.js';
import { recordForSweep } from '../helpers/leftovers.js';

/**
 * These tests make bridges and iptables rules: they must never touch the machine's
 * own network. `npm test` runs them in a namespace of its own; by hand, use
 * `nsenter --net=/run/netns/<yours> node --import tsx --test test/unit/network-*.test.ts`.
 */
export async function assertPrivateNetns(): Promise<void> {
  // A namespace made for tests has no way out: no default route and only loopback and Berth's own links.
  const routes = (await run('ip', ['route', 'show', 'default'])).stdout.trim();
  const links = (JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo' && !/^(berth0|berthtest\d+|br-[0-9a-f]{12}|veth[0-9a-f]{7})$/.test(n));
  if (routes || links.length > 0) {
    throw new Error(
      `the network tests must run in a private network namespace (this one has ${routes ? 'a default route' : links.join(', ')}): ` +
        'use `npm test -- test/unit/network` or `nsenter --net=/run/netns/<yours> node --import tsx --test …`',
    );
  }
}

let lockFile: string | undefined;

/**
 * One network test file at a time per namespace: they share berth0 and Berth's
 * iptables chains. A lock file named after the namespace, taken in before() and
 * dropped in after(); a lock whose owner died is taken over.
 */
export async function lockNetworkTests(): Promise<void> {
  await assertPrivateNetns();
  const inode = (await fs.readlink('/proc/self/ns/net')).replace(/\D/g, '');
  const file = path.join(os.tmpdir(), `berth-nettest-${inode}.lock`);
  for (let i = 0; ; i++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx' });
      lockFile = file;
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await fs.readFile(file, 'utf8').catch(() => '0'));
    let alive = false;
    try {
      process.kill(owner, 0);
      alive = owner > 0;
    } catch {
      alive = false;
    }
    if (!alive) await fs.rm(file, { force: true });
    else if (i > 2400) throw new Error(`another network test (pid ${owner}) holds ${file}`);
    else await new Promise((r) => setTimeout(r, 250));
  }
}

export async function unlockNetworkTests(): Promise<void> {
  if (lockFile) await fs.rm(lockFile, { force: true });
  lockFile = undefined;
}

const stacks = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `fn` when the test ends, last registered first (node's t.after runs hooks
 * in registration order and stops at the first that throws). Every step runs;
 * the first error is reported after all of them.
 */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = [];
    stacks.set(t, fns);
    stack = fns;
    t.after(async () => {
      let first: unknown;
      while (fns.length) {
        try {
          await fns.pop()!();
        } catch (err) {
          first ??= err;
        }
      }
      if (first) throw first;
    });
  }
  stack.push(fn);
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `berth-${prefix}-`));
  recordForSweep(dir);
  return dir;
}

/** Links Berth makes: its bridges and the host ends of its veths. */
export async function berthLinks(): Promise<string[]> {
  const r = await run('ip', ['-j', 'link', 'show']);
  return (JSON.parse(r.stdout) as Array<{ ifname: string; master?: string }>)
    .filter(
      (l) =>
        /^(berth0|berthtest\d+|br-[0-9a-f]{12}|veth[0-9a-f]{7})$/.test(l.ifname) || l.master === 'berth0',
    )
    .map((l) => l.ifname);
}

/** Removes every Berth bridge, veth and iptables rule in this namespace (each test leaves none). */
export async function removeBerthNetworking(): Promise<void> {
  await new Iptables(true).teardown();
  const links = await berthLinks();
  // veths first: deleting one also deletes its peer.
  for (const l of links.filter((n) => n.startsWith('veth')))
    await run('ip', ['link', 'del', l], { allowFailure: true });
  for (const l of links.filter((n) => !n.startsWith('veth')))
    await run('ip', ['link', 'del', l], { allowFailure: true });
}

export interface ServiceHandle {
  svc: NetworkService;
  stateDir: string;
}

/** A started service; at the end of the test it is shut down and its bridges removed. */
export async function startService(
  t: TestContext,
  opts: Partial<NetworkServiceOptions> = {},
): Promise<ServiceHandle> {
  const stateDir = opts.stateDir ?? (await tempDir('net-state'));
  const svc = new NetworkService({ ...opts, stateDir });
  defer(t, async () => {
    await svc.shutdown();
    await removeBerthNetworking();
    await fs.rm(stateDir, { recursive: true, force: true });
  });
  await svc.init();
  return { svc, stateDir };
}

/** A container-like network namespace (lo up), removed at the end of the test. */
export async function makeNetns(t: TestContext, name: string): Promise<string> {
  const dir = await tempDir('netns');
  const file = path.join(dir, name);
  await createNetns(file);
  defer(t, async () => {
    await removeNetns(file);
    await fs.rm(dir, { recursive: true, force: true });
  });
  return file;
}

/** Runs a command in `ns`; stdin gets `input` and is closed (so busybox nc half-closes). */
export async function inNs(ns: string, args: string[], allowFailure = false, input = '') {
  return run('nsenter', [`--net=${ns}`, ...args], { allowFailure, timeoutMs: 20_000, input });
}

export async function ping(ns: string, ip: string): Promise<boolean> {
  const r = await inNs(ns, ['/bin/busybox', 'ping', '-c', '1', '-W', '2', ip], true);
  return r.exitCode === 0;
}

/**
 * Runs a small node server inside `ns`: TCP answers "hello from <tag>" and echoes
 * what it gets after; UDP echoes "<tag>:" + the datagram. Stopped at the end of the test.
 */
export async function startServer(
  t: TestContext,
  ns: string,
  opts: { tcpPort?: number; udpPort?: number; tag: string },
): Promise<void> {
  const script = `
    const net = require('node:net'); const dgram = require('node:dgram');
    const tag = ${JSON.stringify(opts.tag)}; let pending = 0;
    const ready = () => { if (--pending === 0) console.log('ready'); };
    ${opts.tcpPort ? `pending++; net.createServer((s) => { s.write('hello from ' + tag + '\\n'); s.pipe(s); s.on('error', () => {}); }).listen(${opts.tcpPort}, '0.0.0.0', ready);` : ''}
    ${opts.udpPort ? `pending++; const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(tag + ':' + m, r.port, r.address)); u.bind(${opts.udpPort}, '0.0.0.0', ready);` : ''}
  `;
  const child = spawnProcess('nsenter', [`--net=${ns}`, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  defer(t, async () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await child.catch(() => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start: ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void child.then((r) => {
      clearTimeout(timer);
      reject(new Error(`server in ${ns} exited: ${err} ${String(r.exitCode)}`));
    });
  });
}

/** Connects, sends `send`, half-closes and returns everything received. */
export function tcpExchange(host: string, port: number, send = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${host}:${port} in time`));
    }, 5000);
    s.on('connect', () => s.end(send));
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

export function udpExchange(host: string, port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP answer from ${host}:${port} in time`));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(send, port, host);
  });
}

/** Is something listening on (or bound to) this local port? */
export async function portBound(proto: 'tcp' | 'udp', port: number): Promise<boolean> {
  const r = await run('ss', ['-Hna', proto === 'tcp' ? '-t' : '-u', 'sport', '=', `:${port}`], {
    allowFailure: true,
  });
  return r.stdout.trim() !== '';
}

export async function iptablesBerth(): Promise<string> {
  return Iptables.dump();
}
