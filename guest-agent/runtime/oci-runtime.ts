// Drives an OCI runtime (runc or crun) for the engine. The engine is the parent of
// a foreground `runc run` / `runc exec` per process: that runtime process holds the
// container's stdio (pipes passed straight through, or with a tty a node-pty whose
// other end runc copies to the container's own pty) and exits with its exit code.
import { constants as osConstants } from 'node:os';
import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { EngineError, conflict, invalid, notFound } from '../errors.js';
import { log } from '../util/logger.js';
import { run, spawnChild } from '../util/subprocess.js';
import { ociJson, type OciProcess, type OciResources } from './oci-spec.js';

export interface RuntimeProcess {
  /** pid of the runtime process (runc run / runc exec). */
  pid: number;
  /** null unless opened with stdin: true. */
  stdin: Writable | null;
  /** With tty: the terminal output (stderr merged). */
  stdout: NodeJS.ReadableStream;
  /** null with tty. */
  stderr: NodeJS.ReadableStream | null;
  /** No-op without tty. */
  resize(cols: number, rows: number): void;
  /** EOF for the process: half-closes the pipe; with a tty, sends the terminal's EOF (^D). */
  closeStdin(): void;
  /** The container/exec process exit code; 128+N when killed by signal N. */
  exited: Promise<{ exitCode: number }>;
  /** pid of the container's (or exec's) own process, from the runtime's pid file. */
  containerPid?: number;
}

async function readPidFile(pidFile: string): Promise<number | undefined> {
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export interface StartOptions {
  tty: boolean;
  stdin: boolean;
  cols?: number;
  rows?: number;
}

interface Launched extends RuntimeProcess {
  /** Whatever the runtime printed that nobody read yet (for error messages). */
  unreadOutput(): Promise<string>;
  dispose(): void;
}

const POLL_MS = 5;
// A grandchild that inherited the pipes may keep them open after the runtime died.
const DRAIN_TIMEOUT_MS = 500;
const DEFAULT_COLS = 80;
const DEFAULT_ROWS = 24;

/** Runtime errors a user can fix (bad command or path): dockerd answers these with 400, the CLI exits 126/127. */
const USER_ERROR =
  /executable file not found|no such file or directory|permission denied|not a directory|exec format error/i;
// runc: "does not exist", "not running", "process already finished"; crun: "No such process", "No such file or directory" (state dir gone).
const GONE =
  /does not exist|not running|process already finished|no such process|container not found|no such file or directory/i;

function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw invalid(`invalid signal: ${signal}`);
    return signal;
  }
  const s = signal.trim().toUpperCase();
  if (/^\d+$/.test(s)) return signalNumber(Number(s));
  const name = (s.startsWith('SIG') ? s : `SIG${s}`) as keyof typeof osConstants.signals;
  const n = osConstants.signals[name];
  if (n === undefined) throw invalid(`invalid signal: ${signal}`);
  return n;
}

/** The last error the runtime wrote to its --log-format json file. */
async function runtimeLogError(logFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(logFile, 'utf8');
  } catch {
    return undefined;
  }
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) last = entry.msg;
    } catch {
      // crun may write plain text before switching to json; ignore
    }
  }
  return last?.trim();
}

/** The runtime's own message: its last stderr line, without runc's log decoration. */
function lastLine(stderr: string): string {
  const line = stderr.trim().split('\n').pop() ?? '';
  return line.replace(/^time="[^"]*" level=\w+ msg="(.*)"$/, '$1') || 'the runtime failed';
}

type NodePty = typeof import('node-pty');
let ptyModule: Promise<NodePty> | undefined;

/** node-pty, loaded with the first TTY container: its native addon costs ~4 MB of idle memory. */
function loadPty(): Promise<NodePty> {
  ptyModule ??= import('node-pty');
  return ptyModule;
}

/** What a finished process wrote and nobody read (its pipes end once it exited). */
async function drain(stream: Readable | null): Promise<string> {
  if (!stream || stream.destroyed) return '';
  const parts: Buffer[] = [];
  const timeout = setTimeout(() => stream.destroy(), DRAIN_TIMEOUT_MS);
  try {
    for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  } catch {
    // destroyed by the timeout: what arrived is enough for an error message
  } finally {
    clearTimeout(timeout);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Resolves 'started' once `pidFile` exists, or 'exited' if the runtime exits without writing it. */
function waitStarted(pidFile: string, exited: Promise<unknown>): Promise<'started' | 'exited'> {
  return new Promise((resolve) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    const finish = (how: 'started' | 'exited') => {
      if (done) return;
      done = true;
      clearInterval(timer);
      watcher?.close();
      resolve(how);
    };
    const check = () => {
      fs.access(pidFile).then(
        () => finish('started'),
        () => undefined,
      );
    };
    try {
      const base = path.basename(pidFile);
      watcher = watch(path.dirname(pidFile), (_event, name) => {
        if (name === null || String(name) === base) check();
      });
      watcher.on('error', () => undefined);
    } catch {
      // inotify unavailable: the poll below still finds it
    }
    // The poll covers a missed inotify event; runc writes the file with a rename.
    const timer = setInterval(check, POLL_MS);
    void exited.then(() =>
      // A quick command may start and exit before we looked: the pid file tells which.
      fs.access(pidFile).then(
        () => finish('started'),
        () => finish('exited'),
      ),
    );
    check();
  });
}

export class OciRuntime {
  private dirsReady: Promise<void> | undefined;
  /** Scratch files of execs (process.json, pid, log), beside the runtime's own state dir. */
  private readonly execRoot: string;

  constructor(
    readonly name: 'runc' | 'crun',
    readonly binaryPath: string,
    readonly stateRoot: string,
  ) {
    this.execRoot = `${stateRoot.replace(/\/+$/, '')}.exec`;
  }

  private ensureDirs(): Promise<void> {
    this.dirsReady ??= (async () => {
      await fs.mkdir(this.stateRoot, { recursive: true, mode: 0o700 });
      await fs.mkdir(this.execRoot, { recursive: true, mode: 0o700 });
    })();
    return this.dirsReady;
  }

  private globalArgs(logFile?: string): string[] {
    const args = ['--root', this.stateRoot];
    if (logFile) args.push('--log', logFile, '--log-format', 'json');
    return args;
  }

  /**
   * Runs the container of `bundleDir` (holding config.json; its process.terminal must
   * equal opts.tty). Resolves once the user process runs; rejects with the runtime's
   * own error text when it cannot be started.
   */
  async start(id: string, bundleDir: string, opts: StartOptions): Promise<RuntimeProcess> {
    await this.ensureDirs();
    const pidFile = path.join(bundleDir, 'runtime.pid');
    const logFile = path.join(bundleDir, 'runtime.log');
    await Promise.all([fs.rm(pidFile, { force: true }), fs.rm(logFile, { force: true })]);
    const args = [...this.globalArgs(logFile), 'run', '--bundle', bundleDir, '--pid-file', pidFile, id];
    const proc = await this.launch(args, bundleDir, opts);
    if ((await waitStarted(pidFile, proc.exited)) === 'started') {
      proc.containerPid = await readPidFile(pidFile);
      return proc;
    }
    throw await this.startFailure(id, proc, logFile, 'start');
  }

  /**
   * Runs `execProcess` inside the running container `id`, with the same contract as start().
   * A missing or non-executable binary REJECTS with an EngineError (kind 'invalid')
   * whose message is the runtime's (e.g. 'exec: "x": executable file not found in
   * $PATH'); the engine records exit code 126 for it, as dockerd does.
   */
  async exec(id: string, execProcess: OciProcess, opts: StartOptions): Promise<RuntimeProcess> {
    await this.ensureDirs();
    const dir = await fs.mkdtemp(path.join(this.execRoot, `${id.slice(0, 12)}-`));
    const cleanup = () => fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    try {
      const processFile = path.join(dir, 'process.json');
      const pidFile = path.join(dir, 'pid');
      const logFile = path.join(dir, 'log');
      const processSpec: OciProcess = { ...execProcess, terminal: opts.tty };
      // runc sizes the pty from its own terminal only after the process runs; the
      // spec's size is set before, so a quick `stty size` never reads 0 0.
      if (opts.tty && !processSpec.consoleSize && opts.cols && opts.rows) {
        processSpec.consoleSize = { height: opts.rows, width: opts.cols };
      }
      await fs.writeFile(processFile, ociJson(processSpec), { mode: 0o600 });
      const args = [...this.globalArgs(logFile), 'exec', '--process', processFile, '--pid-file', pidFile, id];
      const proc = await this.launch(args, dir, opts);
      if ((await waitStarted(pidFile, proc.exited)) === 'started') {
        // Its scratch files go before anyone hears that it exited.
        const exited = proc.exited.then(async (r) => {
          await cleanup();
          return r;
        });
        return { ...proc, exited, containerPid: await readPidFile(pidFile) };
      }
      throw await this.startFailure(id, proc, logFile, 'exec');
    } catch (err) {
      await cleanup();
      throw err;
    }
  }

  private async startFailure(
    id: string,
    proc: Launched,
    logFile: string,
    what: 'start' | 'exec',
  ): Promise<EngineError> {
    const { exitCode } = await proc.exited;
    const message =
      (await runtimeLogError(logFile)) ||
      (await proc.unreadOutput()).trim() ||
      `${this.name} exited with code ${exitCode} before the ${what === 'start' ? 'container' : 'exec process'} started`;
    proc.dispose();
    if (what === 'start') await this.delete(id, true).catch(() => undefined);
    log.debug('runtime start failed', { id, what, message });
    return new EngineError(USER_ERROR.test(message) ? 'invalid' : 'internal', message);
  }

  private async launch(args: string[], cwd: string, opts: StartOptions): Promise<Launched> {
    return opts.tty ? this.launchPty(await loadPty(), args, cwd, opts) : this.launchPipes(args, cwd, opts);
  }

  private launchPipes(args: string[], cwd: string, opts: StartOptions): Launched {
    // runc hands these pipes to the container as its stdio; it copies nothing itself.
    const child = spawnChild(this.binaryPath, args, {
      cwd,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ exitCode: number }>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve({ exitCode: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1) });
      });
      child.once('error', (err) => {
        log.error('runtime process failed', { runtime: this.name, error: err.message });
        resolve({ exitCode: 127 });
      });
    });
    // Writing after the container exited gives EPIPE: the exit code reports that, not a crash.
    child.stdin?.on('error', () => undefined);
    // Node resumes (and so discards) a child's unread output when it exits; a
    // container that exits before the engine attaches its readers would lose
    // its output. Piping at once keeps every byte, with backpressure, until read.
    const stdout = child.stdout!.pipe(new PassThrough());
    const stderr = child.stderr!.pipe(new PassThrough());
    return {
      pid: child.pid ?? -1,
      stdin: child.stdin ?? null,
      stdout,
      stderr,
      resize: () => undefined,
      closeStdin: () => child.stdin?.end(),
      exited,
      unreadOutput: async () => (await drain(stderr)) + (await drain(stdout)),
      dispose: () => {
        child.stdin?.destroy();
        child.stdout?.destroy();
        child.stderr?.destroy();
        stdout.destroy();
        stderr.destroy();
      },
    };
  }

  private launchPty(pty: NodePty, args: string[], cwd: string, opts: StartOptions): Launched {
    log.debug('spawn (pty)', { cmd: [this.binaryPath, ...args].join(' ') });
    // runc sees a terminal on its stdio, makes the container's own pty and copies
    // between the two; a resize here reaches it as SIGWINCH and it resizes the inner one.
    const term = pty.spawn(this.binaryPath, args, {
      name: 'xterm',
      cols: opts.cols ?? DEFAULT_COLS,
      rows: opts.rows ?? DEFAULT_ROWS,
      cwd,
      env: process.env as Record<string, string>,
      encoding: null,
    });
    let alive = true;
    const stdout = new PassThrough();
    term.onData((data: string | Buffer) => {
      if (!stdout.write(data)) {
        term.pause(); // backpressure: the container blocks on write, as with a pipe
        stdout.once('drain', () => term.resume());
      }
    });
    const exited = new Promise<{ exitCode: number }>((resolve) => {
      term.onExit(({ exitCode, signal }) => {
        alive = false;
        stdout.end();
        resolve({ exitCode: signal ? 128 + signal : exitCode });
      });
    });
    const writeTerm = (data: Buffer | string) => {
      if (!alive) return;
      try {
        term.write(data);
      } catch {
        // the terminal closed under us: the exit code tells the story
      }
    };
    const stdin = opts.stdin
      ? new Writable({
          write(chunk: Buffer, _enc, cb) {
            writeTerm(chunk);
            cb();
          },
          final(cb) {
            writeTerm('\x04');
            cb();
          },
        })
      : null;
    return {
      pid: term.pid,
      stdin,
      stdout,
      stderr: null,
      resize: (cols: number, rows: number) => {
        if (!alive || !(cols > 0) || !(rows > 0)) return;
        try {
          term.resize(Math.floor(cols), Math.floor(rows));
        } catch {
          // exited meanwhile
        }
      },
      closeStdin: () => {
        if (stdin) stdin.end();
      },
      exited,
      unreadOutput: () => drain(stdout),
      dispose: () => {
        stdin?.destroy();
        stdout.destroy();
      },
    };
  }

  /** 'SIGTERM', 'TERM', '9' or 9. No error when the container is already gone. */
  async kill(id: string, signal: string | number): Promise<void> {
    const sig = signalNumber(signal);
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), 'kill', id, String(sig)], {
      allowFailure: true,
    });
    if (r.exitCode === 0 || GONE.test(r.stderr)) return;
    throw new EngineError('internal', `cannot send signal ${sig} to container ${id}: ${r.stderr.trim()}`);
  }

  /** Freezes every process of the container (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.simple(id, 'pause', 'pause');
  }

  async resume(id: string): Promise<void> {
    await this.simple(id, 'resume', 'unpause');
  }

  /** New cgroup limits for a running container. */
  async update(id: string, resources: OciResources): Promise<void> {
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), 'update', '--resources', '-', id], {
      input: JSON.stringify(resources),
      allowFailure: true,
    });
    if (r.exitCode !== 0) {
      throw new EngineError('internal', `Cannot update container ${id}: ${lastLine(r.stderr)}`);
    }
  }

  private async simple(id: string, command: string, what: string): Promise<void> {
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), command, id], { allowFailure: true });
    if (r.exitCode !== 0)
      throw new EngineError('internal', `Cannot ${what} container ${id}: ${lastLine(r.stderr)}`);
  }

  /** Removes the runtime's record (and cgroup) of a container; idempotent. */
  async delete(id: string, force = false): Promise<void> {
    await this.ensureDirs();
    const args = [...this.globalArgs(), 'delete', ...(force ? ['--force'] : []), id];
    const r = await run(this.binaryPath, args, { allowFailure: true });
    if (r.exitCode === 0 || /does not exist|container not found|no such file or directory/i.test(r.stderr))
      return;
    if (/not stopped|is running/i.test(r.stderr)) {
      throw conflict(`cannot delete container ${id} while it is running: stop it first or force the removal`);
    }
    throw new EngineError('internal', `cannot delete container ${id}: ${r.stderr.trim()}`);
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), 'state', id], { allowFailure: true });
    if (r.exitCode !== 0) {
      if (/does not exist|container not found|no such file/i.test(r.stderr)) return undefined;
      throw new EngineError('internal', `cannot read the state of container ${id}: ${r.stderr.trim()}`);
    }
    const s = JSON.parse(r.stdout) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }

  async list(): Promise<Array<{ id: string; status: string; pid: number }>> {
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), 'list', '--format', 'json']);
    const items = (JSON.parse(r.stdout.trim() || 'null') ?? []) as Array<{
      id: string;
      status: string;
      pid: number;
    }>;
    return items.map((c) => ({ id: c.id, status: c.status, pid: c.pid }));
  }

  /** Host pids of every process in the container (for docker top). */
  async pids(id: string): Promise<number[]> {
    await this.ensureDirs();
    const r = await run(this.binaryPath, [...this.globalArgs(), 'ps', '--format', 'json', id], {
      allowFailure: true,
    });
    if (r.exitCode !== 0) {
      if (/does not exist|container not found/i.test(r.stderr)) throw notFound(`no such container: ${id}`);
      throw new EngineError('internal', `cannot list the processes of container ${id}: ${r.stderr.trim()}`);
    }
    return ((JSON.parse(r.stdout.trim() || 'null') ?? []) as number[]).map(Number);
  }
}
