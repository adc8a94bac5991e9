// ssh://[user@]host[:port][/socket] engines, reached as the docker CLI reaches
// them (cli/connhelper): the system's ssh client runs
// `docker [--host unix:///socket] system dial-stdio` on the remote host, and
// the HTTP connection to the engine flows through its stdin and stdout. The
// user's ssh configuration, agent and known_hosts apply as they do for docker.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import http from 'node:http';
import { Duplex } from 'node:stream';

export interface SshTarget {
  host: string;
  user?: string;
  port?: number;
  /** The engine socket on the remote host, when not its default. */
  socketPath?: string;
}

export class SshUrlError extends Error {}

/** ssh://[user@]host[:port][/path], refusing what the docker CLI refuses. */
export function parseSshHost(url: string): SshTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SshUrlError(`invalid ssh URL "${url}"`);
  }
  if (u.password) throw new SshUrlError('plain-text password is not supported');
  if (u.search || u.hash) throw new SshUrlError(`extra parts in ssh URL "${url}" are not supported`);
  if (!u.hostname) throw new SshUrlError(`no host in ssh URL "${url}"`);
  const target: SshTarget = { host: u.hostname.replace(/^\[|\]$/g, '') };
  if (u.username) target.user = decodeURIComponent(u.username);
  if (u.port) target.port = Number(u.port);
  if (u.pathname && u.pathname !== '/') target.socketPath = decodeURIComponent(u.pathname);
  return target;
}

/** The ssh command line, as docker builds it: -o ConnectTimeout=30 -T [-l user] [-p port] -- host docker … */
export function sshArgs(target: SshTarget): string[] {
  const args = ['-o', 'ConnectTimeout=30', '-T'];
  if (target.user) args.push('-l', target.user);
  if (target.port) args.push('-p', String(target.port));
  args.push('--', target.host, 'docker');
  if (target.socketPath) args.push('--host', `unix://${target.socketPath}`);
  args.push('system', 'dial-stdio');
  return args;
}

/** A running command's stdin and stdout as one socket-like stream (docker's commandconn). */
class CommandConnection extends Duplex {
  private stderr = '';
  private gotData = false;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly what: string,
  ) {
    super();
    child.stdout.on('data', (chunk: Buffer) => {
      this.gotData = true;
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      // Kept (bounded) to say why the connection failed.
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => this.destroy(err));
    // After 'close' all of stdout and stderr is in: a command that failed before
    // answering anything is an error naming it and what it printed, not an EOF.
    child.on('close', (code, signal) => {
      if (this.destroyed) return;
      if (code !== 0 && !this.gotData) {
        const why = this.stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`);
        this.destroy(new Error(`the command '${this.what}' exited with code ${code ?? signal}: ${why}`));
      } else this.push(null);
    });
    child.stdin.on('error', () => {
      // The command went away: its exit says why.
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  // A write to a command that already went away is not the error to report: its exit says why.
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.child.stdin.write(chunk, () => done());
  }

  override _final(done: () => void): void {
    this.child.stdin.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    done(err);
  }

  // What node:http may call on a net.Socket; a pipe has no such knobs.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }
}

/** An http.Agent whose every connection is a new `ssh … docker system dial-stdio`. */
export function sshAgent(target: SshTarget, sshCommand = 'ssh'): http.Agent {
  const agent = new http.Agent({ keepAlive: false });
  const args = sshArgs(target);
  (agent as unknown as { createConnection: () => Duplex }).createConnection = () =>
    new CommandConnection(
      spawn(sshCommand, args, { stdio: ['pipe', 'pipe', 'pipe'] }),
      [sshCommand, ...args].join(' '),
    );
  return agent;
}
