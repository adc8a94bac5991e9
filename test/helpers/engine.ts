// Starts a real Berth engine for a test, on its own temp data root and socket,
// and takes everything it made away again afterwards.
import { closeSync, openSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options, ResultPromise } from 'execa';
import { run, spawnProcess } from '../../guest-agent/util/subprocess.js';
import { killProcessesUsing, unmountUnder } from './host-cleanup.js';
import { recordForSweep } from './leftovers.js';

export interface TestEngine {
  socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  host: string;
  dataRoot: string;
  execRoot: string;
  logFile: string;
  /** The engine's pid (changes on restart()). */
  pid: number;
  /** SIGTERM and wait for a clean exit (code 0); throws if it had to be SIGKILLed or exited otherwise. */
  stop(): Promise<void>;
  /** SIGKILL the engine process only (its containers keep running): a crash. */
  kill9(): Promise<void>;
  /** Start again on the same data root and socket (after stop() or kill9()). */
  restart(): Promise<void>;
  /** Stop if running, kill leftover containers, unmount, remove the temp dir. */
  cleanup(): Promise<void>;
}

export interface StartEngineOptions {
  extraArgs?: string[];
  runtime?: 'runc' | 'crun';
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PING_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 30_000;

/** The engine launcher; BERTH_ENGINE_BIN points the engine tests at another build. */
function engineCommand(): [string, string[]] {
  const custom = process.env.BERTH_ENGINE_BIN;
  if (custom) return [custom, []];
  return [process.execPath, [path.join(repoRoot, 'bin', 'berth-engine')]];
}

/** berth-engine run to its end with these arguments (for the ones that must refuse to start). */
export function runEngineBinary(args: string[]) {
  const [file, pre] = engineCommand();
  return run(file, [...pre, ...args], { allowFailure: true, timeoutMs: 30_000 });
}

/** One GET /_ping over the socket; resolves true on HTTP 200. */
export function ping(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request(
      { socketPath: socket, path: '/_ping', method: 'GET', timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function logTail(file: string, lines = 40): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** p, or undefined after ms; the timer does not outlive the race. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Engines not cleaned up yet: an interrupted test run (Ctrl-C) still removes them. */
const live = new Set<TestEngine>();
let signalsHooked = false;

function cleanUpOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  // One cleanup for the first signal; Ctrl-C arrives as SIGINT from the terminal
  // and SIGTERM from the test runner, and neither may cut the cleanup short.
  let cleaning = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (cleaning) return;
    cleaning = true;
    void Promise.allSettled([...live].map((e) => e.cleanup())).then(() =>
      process.exit(sig === 'SIGINT' ? 130 : 143),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

interface Exit {
  exitCode?: number;
  signal?: string;
}

export async function startEngine(opts: StartEngineOptions = {}): Promise<TestEngine> {
  const dir = await fs.mkdtemp('/tmp/berth-test-');
  recordForSweep(dir);
  const socket = path.join(dir, 'docker.sock');
  const dataRoot = path.join(dir, 'root');
  const execRoot = path.join(dir, 'exec');
  const logFile = path.join(dir, 'engine.log');
  const args = [
    '-H',
    `unix://${socket}`,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--log-level',
    'debug',
  ];
  if (opts.runtime) args.push('--runtime', opts.runtime);
  args.push(...(opts.extraArgs ?? []));

  let child: ResultPromise | undefined;
  let exited: Promise<Exit> | undefined;
  let alive = false;
  let cleanedUp = false;

  const launch = async (): Promise<void> => {
    const [file, pre] = engineCommand();
    // The log file's own fd goes to the engine: with a pipe through this process,
    // an exit would only be seen once every child that inherited it (containers) closed it.
    const fd = openSync(logFile, 'a');
    try {
      // execa's types list only 1 and 2 as numeric stdio; it hands any fd to Node's spawn.
      const stdio = ['ignore', fd, fd] as unknown as Options['stdio'];
      // forceKillAfterDelay: false — execa would SIGKILL 5 s after our SIGTERM; stop() has its own deadline.
      child = spawnProcess(file, [...pre, ...args], { stdio, cleanup: true, forceKillAfterDelay: false });
    } finally {
      closeSync(fd);
    }
    const current = child;
    let done: Exit | undefined;
    alive = true;
    exited = (async () => {
      const r = await current;
      done = { exitCode: r.exitCode, signal: r.signal };
      alive = false;
      return done;
    })();
    const deadline = Date.now() + PING_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (done) {
        throw new Error(
          `berth-engine exited during start (code ${done.exitCode ?? done.signal}); ${logFile}:\n${await logTail(logFile)}`,
        );
      }
      if (await ping(socket, 500)) {
        engine.pid = current.pid ?? 0;
        return;
      }
      await sleep(50);
    }
    current.kill('SIGKILL');
    await exited;
    throw new Error(
      `berth-engine did not answer /_ping on ${socket} within ${PING_TIMEOUT_MS / 1000} s; ${logFile}:\n${await logTail(logFile)}`,
    );
  };

  const engine: TestEngine = {
    socket,
    host: `unix://${socket}`,
    dataRoot,
    execRoot,
    logFile,
    pid: 0,
    async stop() {
      if (!child || !exited || !alive) return;
      child.kill('SIGTERM');
      const result = await within(exited, STOP_TIMEOUT_MS);
      if (result === undefined) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(
          `berth-engine did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM and was SIGKILLed; ${logFile}:\n${await logTail(logFile)}`,
        );
      }
      if (result.exitCode !== 0) {
        throw new Error(
          `berth-engine exited with ${result.exitCode ?? result.signal} after SIGTERM (expected a clean exit, 0); ${logFile}:\n${await logTail(logFile)}`,
        );
      }
    },
    async kill9() {
      if (!child || !exited || !alive) throw new Error('kill9(): the engine is not running');
      const pid = child.pid;
      child.kill('SIGKILL');
      if ((await within(exited, STOP_TIMEOUT_MS)) === undefined) {
        // A process that outlives SIGKILL is stuck in the kernel: say where.
        const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => 'gone');
        const stack = await fs.readFile(`/proc/${pid}/stack`, 'utf8').catch(() => '');
        throw new Error(
          `berth-engine (pid ${pid}) outlived SIGKILL by ${STOP_TIMEOUT_MS / 1000} s:\n${status}\n${stack}`,
        );
      }
    },
    async restart() {
      if (cleanedUp) throw new Error('restart(): the engine was cleaned up');
      if (alive) throw new Error('restart(): the engine is still running; stop() or kill9() it first');
      await launch();
    },
    async cleanup() {
      if (cleanedUp) return;
      cleanedUp = true;
      live.delete(engine);
      let stopError: unknown;
      try {
        await engine.stop();
      } catch (err) {
        stopError = err;
      }
      await killProcessesUsing(dir);
      const stuck = await unmountUnder(dir);
      await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => {
        stopError ??= new Error(
          `could not remove ${dir}: ${err.message}; still mounted: ${stuck.join(', ') || 'nothing'}`,
        );
      });
      if (stopError) throw stopError;
    },
  };

  cleanUpOnSignals();
  live.add(engine);
  try {
    await launch();
  } catch (err) {
    live.delete(engine);
    await killProcessesUsing(dir);
    await unmountUnder(dir);
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  return engine;
}
