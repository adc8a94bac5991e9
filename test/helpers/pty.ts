// The docker CLI in a real pseudo-terminal, for `docker run -it` / `exec -it`
// tests: type into it, wait for what the screen shows, resize it.
import * as pty from 'node-pty';
import { dockerEnv } from './docker.js';

export interface DockerPty {
  write(s: string): void;
  /** Everything the terminal printed so far (raw, with escape sequences). */
  output(): string;
  /** The output as a person reads it: escape sequences and carriage returns removed. */
  text(): string;
  /**
   * Resolves once the raw output or text() matches; rejects with the output
   * after timeoutMs (default 10 s) or when the CLI exits first.
   */
  waitFor(re: RegExp | string, timeoutMs?: number): Promise<void>;
  resize(cols: number, rows: number): void;
  /** The CLI's exit code. */
  exited: Promise<number>;
  kill(): void;
}

/** Removes CSI, OSC and two-byte escape sequences, and carriage returns. */
export function stripAnsi(s: string): string {
  return s
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b[()][0-9A-Za-z]/g, '')
    .replace(/\x1b[=>78DEHMNOZc]/g, '')
    .replace(/\r/g, '');
}

export function dockerPty(
  engine: { host: string },
  args: string[],
  opts: { cols?: number; rows?: number; env?: Record<string, string>; command?: [string, ...string[]] } = {},
): DockerPty {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...dockerEnv(engine), TERM: 'xterm', ...opts.env })) {
    if (v !== undefined) env[k] = v;
  }
  // `command` runs another docker-compatible client (berth) in the terminal.
  const [file, ...pre] = opts.command ?? ['docker'];
  const term = pty.spawn(file, [...pre, ...args], {
    name: 'xterm',
    cols: opts.cols ?? 80,
    rows: opts.rows ?? 24,
    cwd: process.cwd(),
    env,
  });
  let out = '';
  let done = false;
  let rows = opts.rows ?? 24;
  const listeners = new Set<() => void>();
  term.onData((d) => {
    out += d;
    // Answer "where is the cursor?" (DSR 6) as a terminal would; busybox sh and
    // readline ask it. An estimate from the text is enough for them.
    if (d.includes('\x1b[6n')) {
      const lines = stripAnsi(out).split('\n');
      const row = Math.min(lines.length, rows);
      term.write(`\x1b[${row};${(lines[lines.length - 1] ?? '').length + 1}R`);
    }
    for (const l of listeners) l();
  });
  const exited = new Promise<number>((resolve) => {
    term.onExit(({ exitCode }) => {
      // node-pty can report the exit before the last output has been read.
      setTimeout(() => {
        done = true;
        for (const l of listeners) l();
        resolve(exitCode);
      }, 100);
    });
  });

  const matches = (re: RegExp | string) => {
    const text = stripAnsi(out);
    return typeof re === 'string' ? out.includes(re) || text.includes(re) : re.test(out) || re.test(text);
  };

  return {
    write: (s) => term.write(s),
    output: () => out,
    text: () => stripAnsi(out),
    resize: (c, r) => {
      rows = r;
      term.resize(c, r);
    },
    exited,
    kill: () => {
      if (!done) term.kill();
    },
    waitFor(re, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (matches(re)) {
            finish();
            resolve();
          } else if (done) {
            finish();
            reject(
              new Error(
                `docker ${args.join(' ')} exited before printing ${String(re)}; output:\n${JSON.stringify(out)}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${String(re)}; output:\n${JSON.stringify(out)}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
