// Health checks (HEALTHCHECK, --health-cmd), run as dockerd's daemon/health.go
// runs them: after each interval the probe is an exec in the running
// container; its exit code and output go to State.Health (the last five), a
// change of status is a `health_status: …` event. The monitor follows the
// container's own events: start begins it (status starting), pause, die and
// destroy end it (status unhealthy, as dockerd leaves it), unpause resumes it.
import type { ContainerHealth, EngineEvent, HealthcheckResult } from '../../common/engine-api.js';
import { log } from '../util/logger.js';
import { goFormatDuration } from '../logs/go-values.js';
import type { ContainerStore, ContainerRecord } from './container-store.js';
import type { ContainerService } from './containers.js';
import type { EventBus } from './events.js';
import type { ExecService } from './exec.js';
import { probeCommand } from './health-config.js';
import type { OutputSink } from './stdio-hub.js';

// dockerd's defaults and limits (daemon/health.go).
const DEFAULT_INTERVAL_NS = 30e9;
const DEFAULT_TIMEOUT_NS = 30e9;
const DEFAULT_START_INTERVAL_NS = 5e9;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT_BYTES = 4096;
/** After a timed-out probe is killed, how long its exit is awaited before the result is recorded. */
const KILL_GRACE_MS = 2000;

interface Monitor {
  stopped: boolean;
  timer?: NodeJS.Timeout;
  /** The exec of the probe under way, killed when the monitor stops. */
  execId?: string;
}

/** The probe's output, cut at 4096 bytes with "..." as dockerd's limitedBuffer does. */
class LimitedOutput implements OutputSink {
  readonly stdout = true;
  readonly stderr = true;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  write(_stream: string, data: Buffer): void {
    const keep = Math.min(MAX_OUTPUT_BYTES - this.size, data.length);
    if (keep > 0) {
      this.chunks.push(data.subarray(0, keep));
      this.size += keep;
    }
    if (keep < data.length) this.truncated = true;
  }

  end(): void {}

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '...' : '');
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class HealthMonitor {
  private readonly monitors = new Map<string, Monitor>();

  constructor(
    private readonly deps: {
      containers: ContainerService;
      execs: ExecService;
      store: ContainerStore;
      events: EventBus;
    },
  ) {
    deps.events.subscribe((e) => this.onEvent(e));
  }

  private onEvent(e: EngineEvent): void {
    if (e.Type !== 'container') return;
    const record = this.deps.store.find(e.Actor.ID);
    switch (e.Action) {
      case 'start':
        if (record) this.begin(record);
        break;
      case 'unpause':
        if (record?.State.Health) this.open(record);
        break;
      case 'pause':
      case 'die':
        this.close(e.Actor.ID, record);
        break;
      case 'destroy':
        this.close(e.Actor.ID, undefined);
        break;
    }
  }

  /** A (re)started container: status starting, a fresh failing streak, the log kept. */
  private begin(record: ContainerRecord): void {
    this.close(record.Id, undefined);
    if (!probeCommand(record.Config.Healthcheck ?? undefined, record.Config.Shell)) {
      delete record.State.Health;
      return;
    }
    record.State.Health = { Status: 'starting', FailingStreak: 0, Log: record.State.Health?.Log ?? [] };
    this.persist(record);
    this.open(record);
  }

  private open(record: ContainerRecord): void {
    if (this.monitors.has(record.Id) || !record.State.Running || record.State.Paused) return;
    const monitor: Monitor = { stopped: false };
    this.monitors.set(record.Id, monitor);
    this.schedule(record, monitor);
  }

  /** Stops the probes; the status turns unhealthy, as dockerd reports a container no longer checked. */
  private close(id: string, record: ContainerRecord | undefined): void {
    const monitor = this.monitors.get(id);
    if (!monitor) return;
    this.monitors.delete(id);
    monitor.stopped = true;
    clearTimeout(monitor.timer);
    if (monitor.execId) this.deps.execs.signal(monitor.execId, 'SIGKILL');
    if (record?.State.Health) {
      record.State.Health.Status = 'unhealthy';
      this.persist(record);
    }
  }

  private schedule(record: ContainerRecord, monitor: Monitor): void {
    const h = record.Config.Healthcheck ?? {};
    const startPeriodMs = (h.StartPeriod ?? 0) / 1e6;
    const inStartPeriod = Date.now() - Date.parse(record.State.StartedAt) < startPeriodMs;
    const delayNs =
      inStartPeriod && record.State.Health?.Status === 'starting'
        ? h.StartInterval || DEFAULT_START_INTERVAL_NS
        : h.Interval || DEFAULT_INTERVAL_NS;
    monitor.timer = setTimeout(() => void this.tick(record, monitor), delayNs / 1e6);
  }

  private async tick(record: ContainerRecord, monitor: Monitor): Promise<void> {
    const command = probeCommand(record.Config.Healthcheck ?? undefined, record.Config.Shell);
    if (!command) return;
    const result = await this.probe(record, command, monitor);
    if (monitor.stopped) return;
    this.record(record, result);
    this.schedule(record, monitor);
  }

  private async probe(
    record: ContainerRecord,
    command: string[],
    monitor: Monitor,
  ): Promise<HealthcheckResult> {
    const start = new Date().toISOString();
    const failed = (message: string): HealthcheckResult => ({
      Start: start,
      End: new Date().toISOString(),
      ExitCode: -1,
      Output: message,
    });
    const { execs } = this.deps;
    let execId: string;
    try {
      execId = execs.create(record.Id, { Cmd: command, AttachStdout: true, AttachStderr: true }).Id;
    } catch (err) {
      return failed(err instanceof Error ? err.message : String(err));
    }
    monitor.execId = execId;
    const output = new LimitedOutput();
    try {
      const handle = await execs.start(execId, { detach: false }, output);
      const timeoutNs = record.Config.Healthcheck?.Timeout || DEFAULT_TIMEOUT_NS;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        handle.done.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutNs / 1e6))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        execs.signal(execId, 'SIGKILL');
        // Its output pipe may stay open in a child the probe left behind: the exit is not awaited forever.
        await Promise.race([handle.done, sleep(KILL_GRACE_MS)]);
        const out = output.text();
        return failed(
          `Health check exceeded timeout (${goFormatDuration(timeoutNs)})${out ? `: ${out}` : ''}`,
        );
      }
      const exitCode = execs.get(execId).exitCode;
      if (exitCode === null) return failed(`healthcheck for container ${record.Id} has no exit code!`);
      return { Start: start, End: new Date().toISOString(), ExitCode: exitCode, Output: output.text() };
    } catch (err) {
      return failed(err instanceof Error ? err.message : String(err));
    } finally {
      monitor.execId = undefined;
      execs.discard(execId);
    }
  }

  /** dockerd's handleProbeResult: failures inside the start period do not count while starting. */
  private record(record: ContainerRecord, result: HealthcheckResult): void {
    const health = record.State.Health as ContainerHealth | undefined;
    if (!health) return;
    const config = record.Config.Healthcheck ?? {};
    const retries = (config.Retries ?? 0) > 0 ? (config.Retries as number) : DEFAULT_RETRIES;
    const before = health.Status;
    health.Log = [...health.Log, result].slice(-MAX_LOG_ENTRIES);
    if (result.ExitCode === 0) {
      health.FailingStreak = 0;
      health.Status = 'healthy';
    } else {
      const startPeriodMs = (config.StartPeriod ?? 0) / 1e6;
      const inStartPeriod =
        health.Status === 'starting' &&
        Date.parse(result.Start) - Date.parse(record.State.StartedAt) < startPeriodMs;
      if (!inStartPeriod) {
        health.FailingStreak++;
        if (health.FailingStreak >= retries) health.Status = 'unhealthy';
      }
    }
    if (health.Status !== before) {
      this.persist(record);
      this.deps.containers.emit(record, `health_status: ${health.Status}`);
    }
  }

  private persist(record: ContainerRecord): void {
    this.deps.store
      .save(record)
      .catch((err) => log.warn('saving health status failed', { id: record.Id, error: String(err) }));
  }
}
