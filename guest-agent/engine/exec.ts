// `docker exec`: extra processes in a running container. Exec instances live in
// memory, as in dockerd, and go away with their container.
import { conflict, invalid, notFound } from '../errors.js';
import { newId } from '../util/ids.js';
import { buildExecProcess } from '../runtime/oci-spec.js';
import { resolveUser } from '../runtime/user.js';
import type { OciRuntime, RuntimeProcess } from '../runtime/oci-runtime.js';
import type { ImageStore } from '../storage/image-store.js';
import type { RootfsManager } from '../storage/rootfs.js';
import type { ContainerService } from './containers.js';
import { processEnv } from './env.js';
import { parseSecurityOptions } from './security-options.js';
import { StdioHub, type OutputSink } from './stdio-hub.js';

export interface ExecConfig {
  Cmd: string[];
  Env: string[];
  User: string;
  WorkingDir: string;
  Tty: boolean;
  Privileged: boolean;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  DetachKeys: string;
  ConsoleSize?: [number, number];
}

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  hub: StdioHub;
  process?: RuntimeProcess;
  done?: Promise<void>;
}

export interface ExecStartHandle {
  tty: boolean;
  /** Resolves when the process has exited and its output was delivered. */
  done: Promise<void>;
}

function strings(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw invalid(`invalid type for ${field}: expected an array of strings`);
  }
  return value as string[];
}

export class ExecService {
  private readonly execs = new Map<string, ExecInstance>();

  constructor(
    private readonly containers: ContainerService,
    private readonly deps: { rootfs: RootfsManager; images: ImageStore; runtime: OciRuntime },
  ) {}

  create(containerRef: string, body: Record<string, unknown> | null): { Id: string } {
    const record = this.containers.get(containerRef);
    if (!record.State.Running) throw conflict(`container ${record.Id} is not running`);
    if (record.State.Paused)
      throw conflict(`Container ${record.Id} is paused, unpause the container before exec`);
    if (!body || typeof body !== 'object') throw invalid('exec config cannot be empty');
    const cmd = strings(body.Cmd, 'Cmd');
    if (cmd.length === 0) throw invalid('No exec command specified');
    const bool = (k: string) => {
      const v = body[k];
      if (v !== undefined && v !== null && typeof v !== 'boolean')
        throw invalid(`invalid type for ${k}: expected a boolean`);
      return v === true;
    };
    const str = (k: string) => {
      const v = body[k];
      if (v !== undefined && v !== null && typeof v !== 'string')
        throw invalid(`invalid type for ${k}: expected a string`);
      return (v as string | undefined) ?? '';
    };
    const workingDir = str('WorkingDir');
    if (workingDir && !workingDir.startsWith('/'))
      throw invalid(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
    const config: ExecConfig = {
      Cmd: cmd,
      Env: strings(body.Env, 'Env'),
      User: str('User'),
      WorkingDir: workingDir,
      Tty: bool('Tty'),
      Privileged: bool('Privileged'),
      AttachStdin: bool('AttachStdin'),
      AttachStdout: bool('AttachStdout'),
      AttachStderr: bool('AttachStderr'),
      DetachKeys: str('DetachKeys'),
      ConsoleSize: Array.isArray(body.ConsoleSize) ? (body.ConsoleSize as [number, number]) : undefined,
    };
    const id = newId();
    this.execs.set(id, {
      id,
      containerId: record.Id,
      config,
      running: false,
      started: false,
      exitCode: null,
      pid: 0,
      hub: new StdioHub(),
    });
    this.containers.emit(record, `exec_create: ${cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  get(id: string): ExecInstance {
    const exec = this.execs.get(id);
    if (!exec) throw notFound(`No such exec instance: ${id}`);
    return exec;
  }

  /**
   * Starts the process. Output goes to `sink` (absent when detached). A missing
   * binary is reported on the stream and as exit code 126, as dockerd does.
   */
  /** Throws unless the exec exists, has not run yet and its container runs. */
  assertStartable(id: string): void {
    const exec = this.get(id);
    if (exec.started) throw conflict(`Exec command ${id} is already running`);
    const record = this.containers.get(exec.containerId);
    if (!record.State.Running) throw conflict(`container ${record.Id} is not running`);
  }

  async start(
    id: string,
    opts: { detach: boolean; tty?: boolean; consoleSize?: [number, number] },
    sink?: OutputSink,
  ): Promise<ExecStartHandle> {
    this.assertStartable(id);
    const exec = this.get(id);
    const record = this.containers.get(exec.containerId);
    exec.started = true;
    exec.running = true;
    const tty = opts.tty ?? exec.config.Tty;
    if (sink) exec.hub.addSink(sink);

    const image = this.containers.imageOf(record);
    const { rootfs, images } = this.deps;
    const merged = await rootfs.mount(record.Id, images.layerDirs(image));
    const [rows, cols] = opts.consoleSize ?? exec.config.ConsoleSize ?? [0, 0];
    let proc: RuntimeProcess;
    try {
      const user = await resolveUser(
        merged,
        exec.config.User || record.Config.User,
        record.HostConfig.GroupAdd ?? [],
      );
      const processSpec = buildExecProcess({
        args: exec.config.Cmd,
        env: processEnv(
          [...(record.Config.Env ?? []), ...exec.config.Env],
          record.Config.Hostname ?? '',
          tty,
        ),
        cwd: exec.config.WorkingDir || record.Config.WorkingDir || '/',
        user,
        tty,
        privileged: exec.config.Privileged || (record.HostConfig.Privileged ?? false),
        capAdd: record.HostConfig.CapAdd ?? [],
        capDrop: record.HostConfig.CapDrop ?? [],
        // dockerd runs an exec under its container's no-new-privileges too.
        noNewPrivileges: parseSecurityOptions(record.HostConfig.SecurityOpt ?? [], this.containers.defaults)
          .noNewPrivileges,
        ulimits: record.HostConfig.Ulimits ?? undefined,
      });
      if (tty && rows > 0 && cols > 0) processSpec.consoleSize = { height: rows, width: cols };
      proc = await this.deps.runtime.exec(record.Id, processSpec, {
        tty,
        stdin: exec.config.AttachStdin && !opts.detach,
        cols: cols || undefined,
        rows: rows || undefined,
      });
    } catch (err) {
      exec.running = false;
      // Detached: nothing streams yet, so the client gets a plain error. Attached:
      // the stream is already open; the message goes on it (before the hub ends
      // the stream) and, as with dockerd, the exit code is 126 (not invocable).
      if (sink) {
        const message = err instanceof Error ? err.message : String(err);
        sink.write('stderr', Buffer.from(`OCI runtime exec failed: ${message}\n`));
        exec.exitCode = 126;
      }
      exec.hub.finish();
      if (!sink) throw err;
      return { tty, done: Promise.resolve() };
    }
    exec.process = proc;
    exec.pid = proc.containerPid ?? 0;
    this.containers.emit(record, `exec_start: ${exec.config.Cmd.join(' ')}`, { execID: id });
    const drained = exec.hub.connect(proc);
    exec.done = (async () => {
      const { exitCode } = await proc.exited;
      await drained;
      exec.exitCode = exitCode;
      exec.running = false;
      exec.process = undefined;
      exec.hub.finish();
      this.containers.emit(record, 'exec_die', { execID: id, exitCode: String(exitCode) });
    })();
    return { tty, done: exec.done };
  }

  /** Client input for the exec; held until the process exists. */
  writeStdin(id: string, data: Buffer): boolean {
    const exec = this.get(id);
    return exec.config.AttachStdin ? exec.hub.writeStdin(data) : true;
  }

  whenStdinDrained(id: string, resume: () => void): void {
    this.get(id).hub.whenStdinDrained(resume);
  }

  endStdin(id: string): void {
    const exec = this.get(id);
    if (exec.config.AttachStdin) exec.hub.endStdin();
  }

  resize(id: string, cols: number, rows: number): void {
    const exec = this.get(id);
    if (!exec.process) throw conflict(`Exec ${id} is not running`);
    exec.process.resize(cols, rows);
  }

  inspect(id: string): Record<string, unknown> {
    const exec = this.get(id);
    const [entrypoint, ...args] = exec.config.Cmd;
    return {
      ID: exec.id,
      Running: exec.running,
      ExitCode: exec.exitCode,
      ProcessConfig: {
        tty: exec.config.Tty,
        entrypoint,
        arguments: args,
        privileged: exec.config.Privileged,
        user: exec.config.User,
      },
      OpenStdin: exec.config.AttachStdin,
      OpenStderr: exec.config.AttachStderr,
      OpenStdout: exec.config.AttachStdout,
      CanRemove: false,
      ContainerID: exec.containerId,
      DetachKeys: exec.config.DetachKeys,
      Pid: exec.pid,
    };
  }

  /** Signals a running exec's process (a health check past its timeout). */
  signal(id: string, signal: NodeJS.Signals): void {
    const pid = this.execs.get(id)?.process?.containerPid;
    if (!pid) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Forgets one exec (a finished health check, so they do not pile up). */
  discard(id: string): void {
    this.execs.delete(id);
  }

  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  /** Forget the exec instances of a removed container. */
  forget(containerId: string): void {
    for (const [id, exec] of this.execs) if (exec.containerId === containerId) this.execs.delete(id);
  }
}
