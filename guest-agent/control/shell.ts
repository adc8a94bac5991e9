// `berth vm ssh`'s guest end: a shell or one command as root in the VM, on an
// ssh2 session channel. With a pty request it runs in a terminal (node-pty,
// loaded on first use: its addon costs memory the control server otherwise
// does not need); without one, on pipes, so that output and exit code are
// exact for scripts.
import { spawn } from 'node:child_process';
import os from 'node:os';
import type ssh2 from 'ssh2';

export interface PtyRequest {
  term: string;
  cols: number;
  rows: number;
}

type NodePty = typeof import('node-pty');
let ptyModule: Promise<NodePty> | undefined;

const SHELL = '/bin/sh';

function shellEnv(extra: Record<string, string>, term?: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    USER: 'root',
    SHELL,
    ...(term ? { TERM: term } : {}),
    ...extra,
  };
}

/** Exit code as ssh reports it: a signal's death is 128 + its number. */
function exitStatus(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (code !== null) return code;
  if (typeof signal === 'number') return 128 + signal;
  return 128 + (signal ? os.constants.signals[signal] : 0);
}

/**
 * Runs `command` (undefined: an interactive login shell) on the channel and
 * ends it with the exit status. Returns a function the session calls on
 * window-change, when there is a terminal.
 */
export async function runShell(
  channel: ssh2.ServerChannel,
  command: string | undefined,
  pty: PtyRequest | undefined,
  env: Record<string, string>,
): Promise<((cols: number, rows: number) => void) | undefined> {
  const args = command === undefined ? ['-l'] : ['-c', command];
  if (pty) {
    const { spawn: spawnPty } = await (ptyModule ??= import('node-pty'));
    const term = spawnPty(SHELL, args, {
      name: pty.term || 'xterm',
      cols: pty.cols || 80,
      rows: pty.rows || 24,
      cwd: '/root',
      env: shellEnv(env, pty.term || 'xterm'),
      encoding: null,
    });
    term.onData((d: string | Buffer) => channel.write(d));
    channel.on('data', (d: Buffer) => term.write(d.toString('binary')));
    term.onExit(({ exitCode, signal }) => {
      channel.exit(signal ? 128 + signal : exitCode);
      channel.end();
    });
    channel.on('close', () => term.kill());
    return (cols, rows) => term.resize(Math.max(1, cols), Math.max(1, rows));
  }
  const child = spawn(SHELL, args, { cwd: '/root', env: shellEnv(env), stdio: 'pipe' });
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  child.stdin.on('error', () => {}); // the command may exit without reading its input
  let outputs = 2;
  let status: number | undefined;
  const finish = () => {
    if (outputs > 0 || status === undefined) return;
    channel.exit(status);
    channel.end();
  };
  child.stdout.on('end', () => (outputs--, finish()));
  child.stderr.on('end', () => (outputs--, finish()));
  child.on('error', (err) => {
    channel.stderr.write(`${SHELL}: ${err.message}\n`);
    status = 127;
    outputs = 0;
    finish();
  });
  child.on('close', (code, signal) => {
    status = exitStatus(code, signal);
    finish();
  });
  channel.on('close', () => child.kill('SIGHUP'));
  return undefined;
}
