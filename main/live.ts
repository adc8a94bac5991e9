// The live feed behind /ws/live: the container list kept current from the
// engine's /events stream (never by polling), per-container stats streams while
// someone watches, and "something changed" notices for images, volumes and
// networks. One engine connection is shared by every subscriber.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { EngineEvent } from '../common/engine-api.js';
import type { LiveMessage, StatsSample } from '../common/desktop-api.js';
import { onJsonLines } from './json-lines.js';
import type { ContainersService } from './services/containers.js';
import { statsSample, type RawStats } from './services/stats-sample.js';

type Listener = (m: LiveMessage) => void;

/** Container actions that change nothing the list shows. */
const QUIET_ACTIONS = /^(exec_|attach|resize|top|archive-path|extract-to-dir|export|commit|copy|detach)/;
const STATS_FLUSH_MS = 1000;
const RECONNECT_MS = 1000;

export class LiveHub {
  private listeners = new Set<Listener>();
  private events: Readable | undefined;
  private stats = new Map<string, Readable>();
  private pendingSamples = new Map<string, StatsSample>();
  private flushTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** One refresh at a time per container, in event order. */
  private refreshChains = new Map<string, Promise<void>>();
  private running = false;

  constructor(
    private readonly docker: Docker,
    private readonly containers: ContainersService,
    private readonly opts: { stats: boolean } = { stats: true },
  ) {}

  /** Sends the current list to the new subscriber first, then every change. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.running) this.start();
    else
      void this.containers.list().then(
        (rows) => listener({ type: 'containers', rows }),
        (err) => listener({ type: 'engine-down', message: (err as Error).message }),
      );
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** For the machine watcher and others that have news of their own. */
  broadcast(m: LiveMessage): void {
    for (const l of this.listeners) l(m);
  }

  private start(): void {
    this.running = true;
    this.flushTimer = setInterval(() => this.flushStats(), STATS_FLUSH_MS);
    void this.connect();
  }

  private stop(): void {
    this.running = false;
    clearInterval(this.flushTimer);
    clearTimeout(this.reconnectTimer);
    this.events?.destroy();
    this.events = undefined;
    for (const s of this.stats.values()) s.destroy();
    this.stats.clear();
  }

  /** Events first (so nothing between the list and the stream is missed), then the list. */
  private async connect(): Promise<void> {
    if (!this.running) return;
    try {
      const events = (await this.docker.getEvents()) as unknown as Readable;
      if (!this.running) {
        events.destroy();
        return;
      }
      this.events = events;
      onJsonLines<EngineEvent>(events, (e) => this.onEvent(e));
      const lost = () => {
        if (this.events !== events) return;
        this.events = undefined;
        this.engineDown('the engine closed its event stream');
      };
      events.on('end', lost);
      events.on('error', lost);
      const rows = await this.containers.list();
      this.broadcast({ type: 'containers', rows });
      for (const r of rows) this.trackStats(r.id, r.state === 'running');
    } catch (err) {
      this.engineDown((err as Error).message);
    }
  }

  private engineDown(message: string): void {
    if (!this.running) return;
    this.broadcast({ type: 'engine-down', message });
    for (const s of this.stats.values()) s.destroy();
    this.stats.clear();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), RECONNECT_MS);
  }

  private onEvent(e: EngineEvent): void {
    if (e.Type === 'container') {
      if (QUIET_ACTIONS.test(e.Action)) return;
      this.refresh(e.Actor.ID, e.Action);
    } else if (e.Type === 'image' || e.Type === 'volume' || e.Type === 'network') {
      this.broadcast({ type: 'changed', what: `${e.Type}s` as 'images' | 'volumes' | 'networks' });
    }
  }

  private refresh(id: string, action: string): void {
    const prev = this.refreshChains.get(id) ?? Promise.resolve();
    const next = prev.then(async () => {
      const row = action === 'destroy' ? undefined : await this.containers.row(id).catch(() => undefined);
      if (row) this.broadcast({ type: 'container', row });
      else this.broadcast({ type: 'container-removed', id });
      this.trackStats(id, row?.state === 'running');
    });
    this.refreshChains.set(id, next);
    void next.finally(() => {
      if (this.refreshChains.get(id) === next) this.refreshChains.delete(id);
    });
  }

  private trackStats(id: string, running: boolean): void {
    if (!this.opts.stats) return;
    const cur = this.stats.get(id);
    if (!running) {
      cur?.destroy();
      this.stats.delete(id);
      return;
    }
    if (cur) return;
    const placeholder = { destroy() {} } as unknown as Readable;
    this.stats.set(id, placeholder);
    this.docker
      .getContainer(id)
      .stats({ stream: true })
      .then((s) => {
        const stream = s as unknown as Readable;
        if (this.stats.get(id) !== placeholder) {
          stream.destroy();
          return;
        }
        this.stats.set(id, stream);
        onJsonLines<RawStats>(stream, (raw) => this.pendingSamples.set(id, statsSample(id, raw)));
        const done = () => {
          if (this.stats.get(id) === stream) this.stats.delete(id);
        };
        stream.on('end', done);
        stream.on('error', done);
      })
      .catch(() => {
        if (this.stats.get(id) === placeholder) this.stats.delete(id);
      });
  }

  private flushStats(): void {
    if (this.pendingSamples.size === 0) return;
    const samples = [...this.pendingSamples.values()];
    this.pendingSamples.clear();
    this.broadcast({ type: 'stats', samples });
  }
}
