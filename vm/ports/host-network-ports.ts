// Ports opened in the VM by `--network host` containers: the engine sends no
// event for them, so the guest's control server reports the TCP ports
// listening and the UDP ports served in the VM's own namespace
// (CONTROL_COMMANDS.listeners) and this turns each change into a publication
// for the port forwarder. Ports the engine published itself (its userland
// proxy listens there too) are left to the engine's events.
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PortEvent } from '../../common/port-events.js';
import { log } from '../util/log.js';

interface ListeningPort {
  ip: string;
  port: number;
  /** Absent from an earlier guest's TCP-only list. */
  proto?: 'tcp' | 'udp';
}

function keyOf(l: ListeningPort): string {
  return `${l.proto ?? 'tcp'} ${l.ip} ${l.port}`;
}

/** The containerId the forwarder sees for these publications. */
export const HOST_NETWORK = 'host-network';

export class HostNetworkPorts {
  private stopped = false;
  private stream: Duplex | undefined;
  private current = new Map<string, ListeningPort>();

  constructor(
    private readonly open: () => Promise<Duplex>,
    private readonly apply: (e: PortEvent) => void,
    /** True for a port the engine publishes (its events cover it). */
    private readonly enginePublishes: (port: number, proto: 'tcp' | 'udp') => boolean,
  ) {}

  /** Follows the guest's listeners until stop(), reopening the stream when the channel comes back. */
  start(): void {
    void (async () => {
      while (!this.stopped) {
        try {
          await this.follow(await this.open());
        } catch (err) {
          log.debug('host-network ports', { error: (err as Error).message });
        }
        if (!this.stopped) await sleep(2000);
      }
    })();
  }

  private follow(stream: Duplex): Promise<void> {
    this.stream = stream;
    let buf = '';
    return new Promise((resolve) => {
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            this.update(JSON.parse(line) as ListeningPort[]);
          } catch (err) {
            log.debug('host-network ports: bad line', { line, error: (err as Error).message });
          }
        }
      });
      stream.on('error', () => resolve());
      stream.on('close', () => resolve());
    });
  }

  /** Applies the difference between the last set and this one. */
  update(listening: ListeningPort[]): void {
    const next = new Map<string, ListeningPort>();
    for (const l of listening) if (!this.enginePublishes(l.port, l.proto ?? 'tcp')) next.set(keyOf(l), l);
    for (const [key, l] of this.current) {
      // A port the engine has published since: its publication replaced this one.
      if (!next.has(key) && !this.enginePublishes(l.port, l.proto ?? 'tcp'))
        this.apply(this.event('unpublish', l));
    }
    for (const [key, l] of next) if (!this.current.has(key)) this.apply(this.event('publish', l));
    this.current = next;
  }

  private event(action: PortEvent['action'], l: ListeningPort): PortEvent {
    return {
      action,
      containerId: HOST_NETWORK,
      proto: l.proto ?? 'tcp',
      hostIp: l.ip,
      hostPort: l.port,
      containerPort: l.port,
    };
  }

  stop(): void {
    this.stopped = true;
    this.stream?.destroy();
    for (const l of this.current.values()) this.apply(this.event('unpublish', l));
    this.current.clear();
  }
}
