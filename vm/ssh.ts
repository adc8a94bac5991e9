// `berth vm ssh [-t] [-- COMMAND…]`: a root shell in the VM, or one command
// whose exit code becomes ours. The VM process owns the one virtio-serial
// connection; it forwards $BERTH_HOME/vm/ssh.sock to the guest control
// server's own socket, and this process runs an ssh2 session over that,
// authenticated with the install's key as the VM process is.
import { existsSync, promises as fs } from 'node:fs';
import { ControlClient } from './channel/control-client.js';
import type { VmPaths } from './paths.js';
import { readState } from './state.js';

/** A command line as one string for the guest's /bin/sh -c, each word quoted as needed. */
export function shellJoin(words: string[]): string {
  if (words.length === 1) return words[0]; // one word: taken as a shell command line, as ssh does
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export async function vmSsh(paths: VmPaths, args: string[]): Promise<number> {
  let forceTty = false;
  let i = 0;
  for (; i < args.length && args[i] !== '--'; i++) {
    if (args[i] === '-t') forceTty = true;
    else throw new Error(`vm ssh: unknown option ${args[i]} (usage: berth vm ssh [-t] [-- COMMAND…])`);
  }
  const words = args.slice(i + 1);
  const command = words.length ? shellJoin(words) : undefined;
  const state = await readState(paths);
  if (state.status !== 'running' || !existsSync(paths.shellSocket))
    throw new Error(
      `the VM is not running (${state.status}${state.reason ? `: ${state.reason}` : ''}): \`berth vm start\``,
    );
  const { stdin, stdout } = process;
  // As ssh: a terminal for an interactive shell (when we have one), for a command only with -t.
  const tty = (command === undefined && stdin.isTTY && stdout.isTTY) || forceTty;
  const key = await fs.readFile(paths.hostKey, 'utf8');
  const client = await ControlClient.connectOnce(paths.shellSocket, key, 15_000).catch((err: Error) => {
    throw new Error(
      `cannot reach the guest's control server (${err.message}): it may be restarting; \`berth vm status\` says how the VM is`,
    );
  });
  try {
    const { channel, exitCode } = await client.openShell(
      command,
      tty
        ? { term: process.env.TERM ?? 'xterm', cols: stdout.columns ?? 80, rows: stdout.rows ?? 24 }
        : undefined,
    );
    const onResize = () => channel.setWindow(stdout.rows ?? 24, stdout.columns ?? 80, 0, 0);
    if (tty && stdin.isTTY) stdin.setRawMode(true);
    if (tty) stdout.on('resize', onResize);
    stdin.pipe(channel);
    channel.pipe(stdout, { end: false });
    channel.stderr.pipe(process.stderr, { end: false });
    const code = await exitCode;
    stdin.unpipe(channel);
    stdin.pause();
    if (tty && stdin.isTTY) stdin.setRawMode(false);
    stdout.off('resize', onResize);
    return code;
  } finally {
    client.close();
  }
}
