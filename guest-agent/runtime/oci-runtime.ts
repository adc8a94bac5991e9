// Drives an OCI runtime (runc or crun) for the engine. The engine is the parent of
// a foreground `runc run` / `runc exec` per process: that runtime process holds the
// container's stdio (pipes passed straight through; with a terminal, see
// launchConsole and launchPty) and exits with its exit code.
import { constants as osConstants } from 'node:os';
import { promises as fs, rmSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { EngineError, conflict, invalid, notFound } from '../errors.js';
import { log } from '../util/logger.js';
import { run, spawnChild } from '../util/subprocess.js';
import { mountPoints } from '../util/mountinfo.js';
import { ociJson, type OciProcess, type OciResources, type OciSeccomp, type OciSpec } from './oci-spec.js';
import { SECCOMP_BPF_ANNOTATION, SeccompBpfCache } from './seccomp-bpf-cache.js';
import { FifoPool, openStdioFifos, type StdioFifos } from './stdio-fifos.js';
import { runcWording } from './crun-wording.js';
import { listenForConsole, type Terminal } from './terminal.js';

/**
 * How a runtime command line is run: the runtime binary itself, or a wrapper
 * around it (crun on a hybrid cgroup host runs in a private mount namespace).
 */
export type RuntimeLauncher = (binary: string, args: string[]) => { file: string; args: string[] };

const direct: RuntimeLauncher = (binary, args) => ({ file: binary, args });

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
  // crun writes the file in place (runc renames it there): it may be seen empty for a moment.
  for (let attempt = 0; attempt < 50; attempt++) {
    const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 2));
  }
  return undefined;
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
/** After a terminal's process exited: how long its terminal may stay silent before it is closed. */
const TERMINAL_IDLE_MS = 2000;
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

const COPIED_MOUNT_DROP_DELAY_MS = 1000;

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
  private readonly launcher: RuntimeLauncher;
  private seccompCache: Promise<SeccompBpfCache | undefined> | undefined;
  private readonly compiling = new Set<string>();
  private readonly fifos: FifoPool;
  /** See dropCopiesOfMountsUnder. */
  private copiedMountRoots: string[] = [];

  constructor(
    readonly name: 'runc' | 'crun',
    readonly binaryPath: string,
    readonly stateRoot: string,
    opts: { launcher?: RuntimeLauncher } = {},
  ) {
    this.execRoot = `${stateRoot.replace(/\/+$/, '')}.exec`;
    this.launcher = opts.launcher ?? direct;
    this.fifos = new FifoPool(path.join(this.execRoot, 'fifos'));
  }

  /**
   * A wrapped runtime runs in its own copy of the engine's mount namespace, and a
   * container's `crun run` keeps that copy for the container's life: mounts the
   * engine removes later (another container's root filesystem at docker stop)
   * would stay alive there, and the kernel warns when that root filesystem is
   * mounted again. Once its container runs, crun needs none of the mounts below
   * `roots`: they are dropped from its copy.
   */
  dropCopiesOfMountsUnder(roots: string[]): void {
    this.copiedMountRoots = roots.map((r) => `${r.replace(/\/+$/, '')}/`);
  }

  private scheduleCopiedMountDrop(runtimePid: number): void {
    if (!this.wrapped || this.copiedMountRoots.length === 0 || !(runtimePid > 0)) return;
    // Later, not at once: most `docker run --rm` containers are gone by then, and
    // the drop stays off the start's path.
    setTimeout(() => void this.dropCopiedMounts(runtimePid), COPIED_MOUNT_DROP_DELAY_MS).unref();
  }

  private async dropCopiedMounts(runtimePid: number): Promise<void> {
    const copies = (await mountPoints(runtimePid).catch(() => [] as string[]))
      .filter((m) => this.copiedMountRoots.some((root) => m.startsWith(root)))
      .sort((a, b) => b.length - a.length); // deepest first
    if (copies.length === 0) return;
    const r = await run('nsenter', [`--mount=/proc/${runtimePid}/ns/mnt`, 'umount', '--lazy', ...copies], {
      allowFailure: true,
    });
    if (r.exitCode !== 0) log.debug('cannot drop copied mounts', { pid: runtimePid, error: r.stderr.trim() });
  }

  /** Whether the runtime runs through a wrapper (see RuntimeLauncher). */
  get wrapped(): boolean {
    return this.launcher !== direct;
  }

  /** The command line that runs the runtime with `args` (through the launcher). */
  private command(args: string[]): { file: string; args: string[] } {
    return this.launcher(this.binaryPath, args);
  }

  /** Runs a short runtime command to completion. */
  private runtimeCommand(args: string[], opts: Parameters<typeof run>[2] = {}) {
    const cmd = this.command(args);
    return run(cmd.file, cmd.args, opts);
  }

  /** crun only: runc ignores the annotation and compiles every time. */
  private seccompFilters(): Promise<SeccompBpfCache | undefined> {
    this.seccompCache ??= (async () => {
      if (this.name !== 'crun') return undefined;
      const st = await fs.stat(this.binaryPath).catch(() => undefined);
      if (!st) return undefined;
      const identity = `${this.binaryPath}:${st.size}:${st.mtimeMs}:${process.arch}`;
      return new SeccompBpfCache(`${this.stateRoot.replace(/\/+$/, '')}.seccomp`, identity);
    })();
    return this.seccompCache;
  }

  /**
   * Has crun compile a profile for later starts, beside the start that needs it
   * now: `crun create` of a throwaway container with only that profile leaves the
   * filter in its state dir (a `crun run` of a quick command deletes it too soon
   * to read).
   */
  private compileSeccomp(cache: SeccompBpfCache, key: string, seccomp: OciSeccomp): void {
    if (this.compiling.has(key)) return;
    this.compiling.add(key);
    const work = (async () => {
      await this.ensureDirs();
      const dir = await fs.mkdtemp(path.join(this.execRoot, 'seccomp-'));
      const id = `berth-seccomp-${path.basename(dir).slice('seccomp-'.length)}`;
      const root = path.join(dir, 'state');
      try {
        const rootfs = path.join(dir, 'rootfs');
        await fs.mkdir(path.join(rootfs, 'dev'), { recursive: true });
        // Never run: create stops before the exec, but checks the command exists.
        await fs.writeFile(path.join(rootfs, 'noop'), '', { mode: 0o755 });
        const config: OciSpec = {
          ociVersion: '1.0.2',
          process: { user: { uid: 0, gid: 0 }, args: ['/noop'], cwd: '/', env: [] },
          root: { path: rootfs },
          mounts: [],
          linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], seccomp },
        };
        await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
        // The container's init waits on its fifo until the delete below, holding
        // whatever stdio it got: so none, and errors come through the log file.
        const logFile = path.join(dir, 'log');
        const args = [
          '--root',
          root,
          '--log',
          logFile,
          '--log-format',
          'json',
          'create',
          '--bundle',
          dir,
          id,
        ];
        const cmd = this.command(args);
        const child = spawnChild(cmd.file, cmd.args, { stdio: 'ignore' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const exitCode = await new Promise<number>((resolve) => {
          child.once('exit', (code) => resolve(code ?? 1));
          child.once('error', () => resolve(127));
        }).finally(() => clearTimeout(timer));
        if (exitCode !== 0) throw new Error((await runtimeLogError(logFile)) ?? `exit code ${exitCode}`);
        await cache.remember(key, path.join(root, id, 'seccomp.bpf'));
      } finally {
        await this.runtimeCommand(['--root', root, 'delete', '--force', id], { allowFailure: true }).catch(
          () => undefined,
        );
        await fs.rm(dir, { recursive: true, force: true });
      }
    })();
    work
      .catch((err: Error) => log.debug('cannot precompile the seccomp profile', { error: err.message }))
      .finally(() => this.compiling.delete(key));
  }

  /**
   * Writes the bundle's config.json; with crun, a profile compiled before goes in
   * precompiled, so the runtime skips the compile.
   */
  async writeConfig(bundleDir: string, spec: OciSpec): Promise<void> {
    const cache = await this.seccompFilters();
    const key = cache?.keyOf(spec.linux?.seccomp);
    let content = spec;
    if (cache && key) {
      const filter = await cache.lookup(key);
      if (filter)
        content = { ...spec, annotations: { ...spec.annotations, [SECCOMP_BPF_ANNOTATION]: filter } };
      else this.compileSeccomp(cache, key, spec.linux!.seccomp!);
    }
    await fs.writeFile(path.join(bundleDir, 'config.json'), ociJson(content));
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
    try {
      return await this.startOnce(id, bundleDir, opts);
    } catch (err) {
      const cache = await this.seccompFilters();
      if (!cache || (err instanceof EngineError && err.kind === 'invalid')) throw err;
      // A filter kept from another start (writeConfig put it in) may be what
      // failed: drop it and compile afresh, once.
      const configFile = path.join(bundleDir, 'config.json');
      const spec = JSON.parse(await fs.readFile(configFile, 'utf8')) as OciSpec;
      const key = cache.keyOf(spec.linux?.seccomp);
      if (!key || !spec.annotations?.[SECCOMP_BPF_ANNOTATION]) throw err;
      log.info('start with a precompiled seccomp filter failed; retrying without it', {
        id,
        error: (err as Error).message,
      });
      await cache.forget(key);
      delete spec.annotations[SECCOMP_BPF_ANNOTATION];
      await fs.writeFile(configFile, ociJson(spec));
      return this.startOnce(id, bundleDir, opts);
    }
  }

  private async startOnce(id: string, bundleDir: string, opts: StartOptions): Promise<RuntimeProcess> {
    await this.ensureDirs();
    const pidFile = path.join(bundleDir, 'runtime.pid');
    const logFile = path.join(bundleDir, 'runtime.log');
    await Promise.all([fs.rm(pidFile, { force: true }), fs.rm(logFile, { force: true })]);
    const args = [...this.globalArgs(logFile), 'run', '--bundle', bundleDir, '--pid-file', pidFile, id];
    const proc = await this.launch(args, bundleDir, opts);
    if ((await waitStarted(pidFile, proc.exited)) === 'started') {
      proc.containerPid = await readPidFile(pidFile);
      this.scheduleCopiedMountDrop(proc.pid);
      return proc;
    }
    throw await this.startFailure(id, proc, logFile, 'start', bundleDir);
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
      throw await this.startFailure(id, proc, logFile, 'exec', processSpec.args[0]);
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
    /** The exec's command, or the bundle whose config.json names the container's. */
    commandOrBundle: string | undefined,
  ): Promise<EngineError> {
    const { exitCode } = await proc.exited;
    let message =
      (await runtimeLogError(logFile)) ||
      (await proc.unreadOutput()).trim() ||
      `${this.name} exited with code ${exitCode} before the ${what === 'start' ? 'container' : 'exec process'} started`;
    if (this.name === 'crun') {
      const command =
        what === 'exec'
          ? commandOrBundle
          : await fs
              .readFile(path.join(commandOrBundle ?? '', 'config.json'), 'utf8')
              .then((t) => (JSON.parse(t) as OciSpec).process.args?.[0])
              .catch(() => undefined);
      message = runcWording(message, command);
    }
    proc.dispose();
    if (what === 'start') await this.delete(id, true).catch(() => undefined);
    log.debug('runtime start failed', { id, what, message });
    return new EngineError(USER_ERROR.test(message) ? 'invalid' : 'internal', message);
  }

  private async launch(args: string[], cwd: string, opts: StartOptions): Promise<Launched> {
    if (opts.tty)
      return this.name === 'crun'
        ? this.launchConsole(args, cwd, opts)
        : this.launchPty(await loadPty(), args, cwd, opts);
    // crun hands its stdio to the container as they are: FIFOs, not node's sockets (stdio-fifos.ts).
    const fifos = this.name === 'crun' ? await openStdioFifos(this.fifos, opts.stdin) : undefined;
    try {
      return this.launchPipes(args, cwd, opts, fifos);
    } finally {
      fifos?.closeChildEnds();
    }
  }

  /** The runtime process's exit code: 128+N when killed by signal N, 127 when it could not be run. */
  private exitCodeOf(child: ReturnType<typeof spawnChild>): Promise<number> {
    return new Promise((resolve) => {
      child.once('exit', (code, signal) =>
        resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)),
      );
      child.once('error', (err) => {
        log.error('runtime process failed', { runtime: this.name, error: err.message });
        resolve(127);
      });
    });
  }

  private launchPipes(args: string[], cwd: string, opts: StartOptions, fifos?: StdioFifos): Launched {
    const cmd = this.command(args);
    const child = spawnChild(cmd.file, cmd.args, {
      cwd,
      stdio: fifos?.childEnds ?? [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const exited = this.exitCodeOf(child).then((exitCode) => ({ exitCode }));
    const stdin = fifos ? fifos.stdin : child.stdin;
    // Writing after the container exited gives EPIPE: the exit code reports that, not a crash.
    stdin?.on('error', () => undefined);
    // Node resumes (and so discards) a child's unread output when it exits; a
    // container that exits before the engine attaches its readers would lose
    // its output. Piping at once keeps every byte, with backpressure, until read.
    const [outSource, errSource] = fifos?.readers ?? [child.stdout!, child.stderr!];
    const stdout = outSource.pipe(new PassThrough());
    const stderr = errSource.pipe(new PassThrough());
    return {
      pid: child.pid ?? -1,
      stdin: stdin ?? null,
      stdout,
      stderr,
      resize: () => undefined,
      closeStdin: () => stdin?.end(),
      exited,
      unreadOutput: async () => (await drain(stderr)) + (await drain(stdout)),
      dispose: () => {
        stdin?.destroy();
        child.stdout?.destroy();
        child.stderr?.destroy();
        outSource.destroy();
        errSource.destroy();
        stdout.destroy();
        stderr.destroy();
      },
    };
  }

  /**
   * crun with a terminal: it sends the terminal's master over --console-socket and
   * the engine reads it. (crun's own copy loop, with a terminal on its stdio,
   * returns at the container's exit and drops the output it has not read yet.)
   * The exit is reported once the output is read to its end.
   */
  private launchConsole(args: string[], cwd: string, opts: StartOptions): Launched {
    const socketPath = path.join(cwd, 'console.sock');
    // One left by an engine that died while the container ran would make the bind fail.
    rmSync(socketPath, { force: true });
    const listener = listenForConsole(socketPath);
    // The option goes before the container id, the last argument of run and exec.
    const cmd = this.command([
      ...args.slice(0, -1),
      '--console-socket',
      listener.path,
      args[args.length - 1],
    ]);
    const child = spawnChild(cmd.file, cmd.args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const runtimeOutput: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => runtimeOutput.push(c));
    child.stderr!.on('data', (c: Buffer) => runtimeOutput.push(c));
    const stdout = new PassThrough();
    let terminal: Terminal | undefined;
    let size = opts.cols && opts.rows ? { cols: opts.cols, rows: opts.rows } : undefined;
    const input = opts.stdin ? new PassThrough() : null;
    listener.received.then(
      (t) => {
        terminal = t;
        if (size) t.resize(size.cols, size.rows);
        t.output.pipe(stdout);
        if (input) input.pipe(t.input());
      },
      (err: Error) => {
        log.debug('no terminal from the runtime', { error: err.message });
        stdout.end();
      },
    );
    const runtimeExit = this.exitCodeOf(child);
    const exited = runtimeExit.then(async (exitCode) => {
      listener.cancel();
      const t = await listener.received.catch(() => undefined);
      if (t) {
        // A background process may still hold the terminal: once nothing more comes
        // for a while it is not waited for (output still flowing is read to the end).
        let grace = setTimeout(() => t.close(), TERMINAL_IDLE_MS);
        const more = () => {
          clearTimeout(grace);
          grace = setTimeout(() => t.close(), TERMINAL_IDLE_MS);
        };
        t.output.on('data', more);
        await t.ended;
        clearTimeout(grace);
        t.output.off('data', more);
      }
      await fs.rm(listener.path, { force: true }).catch(() => undefined);
      return { exitCode };
    });
    return {
      pid: child.pid ?? -1,
      stdin: input,
      stdout,
      stderr: null,
      resize: (cols: number, rows: number) => {
        if (!(cols > 0) || !(rows > 0)) return;
        size = { cols, rows };
        terminal?.resize(cols, rows);
      },
      closeStdin: () => input?.end(),
      exited,
      unreadOutput: async () => {
        await runtimeExit;
        return Buffer.concat(runtimeOutput).toString('utf8') + (await drain(stdout));
      },
      dispose: () => {
        input?.destroy();
        terminal?.close();
        stdout.destroy();
      },
    };
  }

  /**
   * runc with a terminal needs one on its own stdio: a node-pty. It makes the
   * container's terminal and copies it to that one. (It clears the inner one's
   * \n → \r\n for the outer one to do; its first output may pass before that:
   * \r\r\n, seen the same on a screen.)
   */
  private launchPty(pty: NodePty, args: string[], cwd: string, opts: StartOptions): Launched {
    const cmd = this.command(args);
    log.debug('spawn (pty)', { cmd: [cmd.file, ...cmd.args].join(' ') });
    // runc sees a terminal on its stdio, makes the container's own pty and copies
    // between the two; a resize here reaches it as SIGWINCH and it resizes the inner one.
    const term = pty.spawn(cmd.file, cmd.args, {
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
    const r = await this.runtimeCommand([...this.globalArgs(), 'kill', id, String(sig)], {
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
    // A file, not `-`: crun opens /dev/stdin, which fails on node's socket stdio.
    const dir = await fs.mkdtemp(path.join(this.execRoot, 'update-'));
    const file = path.join(dir, 'resources.json');
    let r;
    try {
      await fs.writeFile(file, JSON.stringify(resources), { mode: 0o600 });
      r = await this.runtimeCommand([...this.globalArgs(), 'update', '--resources', file, id], {
        allowFailure: true,
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    if (r.exitCode !== 0) {
      throw new EngineError('internal', `Cannot update container ${id}: ${lastLine(r.stderr)}`);
    }
  }

  private async simple(id: string, command: string, what: string): Promise<void> {
    await this.ensureDirs();
    const r = await this.runtimeCommand([...this.globalArgs(), command, id], { allowFailure: true });
    if (r.exitCode !== 0)
      throw new EngineError('internal', `Cannot ${what} container ${id}: ${lastLine(r.stderr)}`);
  }

  /** Removes the runtime's record (and cgroup) of a container; idempotent. */
  async delete(id: string, force = false): Promise<void> {
    await this.ensureDirs();
    const args = [...this.globalArgs(), 'delete', ...(force ? ['--force'] : []), id];
    const r = await this.runtimeCommand(args, { allowFailure: true });
    if (r.exitCode === 0 || /does not exist|container not found|no such file or directory/i.test(r.stderr))
      return;
    if (/not stopped|is running/i.test(r.stderr)) {
      throw conflict(`cannot delete container ${id} while it is running: stop it first or force the removal`);
    }
    throw new EngineError('internal', `cannot delete container ${id}: ${r.stderr.trim()}`);
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    await this.ensureDirs();
    const r = await this.runtimeCommand([...this.globalArgs(), 'state', id], { allowFailure: true });
    if (r.exitCode !== 0) {
      if (/does not exist|container not found|no such file/i.test(r.stderr)) return undefined;
      throw new EngineError('internal', `cannot read the state of container ${id}: ${r.stderr.trim()}`);
    }
    const s = JSON.parse(r.stdout) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }

  async list(): Promise<Array<{ id: string; status: string; pid: number }>> {
    await this.ensureDirs();
    const r = await this.runtimeCommand([...this.globalArgs(), 'list', '--format', 'json']);
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
    const r = await this.runtimeCommand([...this.globalArgs(), 'ps', '--format', 'json', id], {
      allowFailure: true,
    });
    if (r.exitCode !== 0) {
      // crun: its state dir is gone with the container ("error opening file …/status").
      if (/does not exist|container not found|no such file/i.test(r.stderr)) {
        throw notFound(`no such container: ${id}`);
      }
      throw new EngineError('internal', `cannot list the processes of container ${id}: ${r.stderr.trim()}`);
    }
    return ((JSON.parse(r.stdout.trim() || 'null') ?? []) as number[]).map(Number);
  }
}
