// Which ports the engine in the guest publishes, followed through the Engine
// API (the host and the guest meet only there and in common/): the engine's
// event stream says when a container starts, dies or goes, and each time the
// running containers' Ports are read again and compared with what was known.
// Reading the state rather than trusting each event means nothing is lost when
// the stream drops (the channel reconnects, the host sleeps): the next read
// brings the forwarding back in line.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PortEvent, PortEventListener } from '../../common/port-events.js';
import { log } from '../util/log.js';

/** One entry of GET /containers/json's Ports. */
interface PortSummary {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

interface ContainerSummary {
  Id: string;
  State: string;
  Ports?: PortSummary[];
}

type Publication = Omit<PortEvent, 'action'>;

function keyOf(p: Publication): string {
  return `${p.proto}/${p.hostIp}/${p.hostPort}`;
}

/** The publications a container list shows: running (or paused) containers' ports with a host side. */
export function publicationsOf(containers: ContainerSummary[]): Map<string, Publication> {
  const out = new Map<string, Publication>();
  for (const c of containers) {
    if (c.State !== 'running' && c.State !== 'paused') continue;
    for (const p of c.Ports ?? []) {
      if (!p.PublicPort || (p.Type !== 'tcp' && p.Type !== 'udp')) continue;
      const pub: Publication = {
        containerId: c.Id,
        proto: p.Type,
        hostIp: p.IP || '0.0.0.0',
        hostPort: p.PublicPort,
        containerPort: p.PrivatePort,
      };
      out.set(keyOf(pub), pub);
    }
  }
  return out;
}

/** The events that take a step from the old set of publications to the new one. */
export function diffPublications(
  before: Map<string, Publication>,
  after: Map<string, Publication>,
): PortEvent[] {
  const events: PortEvent[] = [];
  for (const [k, p] of before) {
    const now = after.get(k);
    if (!now || now.containerId !== p.containerId || now.containerPort !== p.containerPort)
      events.push({ action: 'unpublish', ...p });
  }
  for (const [k, p] of after) {
    const was = before.get(k);
    if (!was || was.containerId !== p.containerId || was.containerPort !== p.containerPort)
      events.push({ action: 'publish', ...p });
  }
  return events;
}

function getJson<T>(socketPath: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${path}: ${res.statusCode} ${body.trim()}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export class PublishedPortsWatcher {
  private known = new Map<string, Publication>();
  private stopped = false;
  private events: http.ClientRequest | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;

  /** socketPath: the engine's socket on the host. */
  constructor(
    private readonly socketPath: string,
    private readonly listener: PortEventListener,
  ) {}

  /** Follows the engine until stop(); resolves once the first read is done. */
  async start(): Promise<void> {
    void this.follow();
    await this.sync();
  }

  stop(): void {
    this.stopped = true;
    this.events?.destroy();
  }

  /** Reads the engine's containers again; calls coalesce while one read runs. */
  sync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          const list = await getJson<ContainerSummary[]>(this.socketPath, '/containers/json');
          if (this.stopped) return;
          const now = publicationsOf(list);
          const changes = diffPublications(this.known, now);
          this.known = now;
          for (const e of changes) this.listener(e);
        } catch (err) {
          log.debug('published ports: list', { error: (err as Error).message });
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  /** The engine's container events, reconnected while not stopped; each (re)connection reads the state again. */
  private async follow(): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        const req = http.request(
          { socketPath: this.socketPath, path: `/events?filters=${filters}` },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              return resolve();
            }
            void this.sync(); // anything that happened while not connected
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              buf += d;
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (!line) continue;
                try {
                  const ev = JSON.parse(line) as { Action?: string };
                  if (ev.Action && /^(start|die|destroy)$/.test(ev.Action)) void this.sync();
                } catch {
                  // not an event line
                }
              }
            });
            res.on('end', resolve);
            res.on('error', () => resolve());
          },
        );
        req.on('error', (err) => {
          log.debug('published ports: events', { error: err.message });
          resolve();
        });
        req.end();
        this.events = req;
      });
      if (!this.stopped) await sleep(500);
    }
  }
}
