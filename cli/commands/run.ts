// run, create, attach, exec: the commands that make containers or join their
// stdio. Pulls a missing image as `docker run` does, maps start failures to
// 125/126/127, returns the container's (or exec's) own exit code, and with
// -it runs the terminal raw with resize and detach keys.
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import {
  asList,
  asString,
  CliError,
  daemonMessage,
  describeError,
  isNotFound,
  type CommandContext,
  type CommandHandler,
} from '../command-context.js';
import { CONTAINER_FLAGS, createRequest } from '../container-options.js';
import { resolveEnv } from '../env-options.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { showProgress } from '../output/progress.js';
import { joinSession } from '../terminal-session.js';
import { pullStream } from './images.js';

/** POST /containers/{id}/attach upgraded to a raw stream, sent at once (an empty body flushes the headers). */
export function attachHijacked(
  docker: Docker,
  id: string,
  o: { stdin: boolean; stdout?: boolean; stderr?: boolean; detachKeys?: string },
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${encodeURIComponent(id)}/attach?`,
        method: 'POST',
        isStream: true,
        hijack: true,
        openStdin: o.stdin,
        statusCodes: { 101: true, 200: true, 404: 'no such container', 409: 'conflict', 500: 'server error' },
        options: {
          stream: true,
          stdin: o.stdin,
          stdout: o.stdout ?? true,
          stderr: o.stderr ?? true,
          ...(o.detachKeys ? { detachKeys: o.detachKeys } : {}),
        },
        file: Buffer.alloc(0),
      },
      (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as Duplex)),
    );
  });
}

/**
 * POST /containers/{id}/wait, resolved once the engine has answered with its
 * headers (it flushes them at once): from then on an exit, or a --rm removal,
 * cannot slip past the wait, however slowly its connection came (ssh://).
 * The inner promise is the exit. The docker CLI waits so before starting.
 */
export function waitRegistered(
  docker: Docker,
  id: string,
  condition: 'next-exit' | 'removed',
): Promise<{ exited: Promise<{ StatusCode: number; Error?: { Message?: string } | null }> }> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${encodeURIComponent(id)}/wait?`,
        method: 'POST',
        isStream: true,
        statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' },
        options: { condition },
      },
      (err: unknown, stream: unknown) => {
        if (err) return reject(err);
        const body = stream as NodeJS.ReadableStream;
        const exited = new Promise<{ StatusCode: number; Error?: { Message?: string } | null }>(
          (done, fail) => {
            const chunks: Buffer[] = [];
            body.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
            body.on('error', fail);
            body.on('end', () => {
              try {
                done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
              } catch {
                fail(new Error('the engine ended the wait without an exit status'));
              }
            });
          },
        );
        resolve({ exited });
      },
    );
  });
}

/** The image reference as the docker CLI completes it: a tag of latest when none is given. */
function withTag(image: string): string {
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  return image.includes('@') || lastPart.includes(':') ? image : `${image}:latest`;
}

export async function pullImage(
  ctx: CommandContext,
  image: string,
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  quiet = false,
): Promise<void> {
  const stream = await pullStream(ctx, withTag(image));
  await showProgress(stream, out, { quiet });
}

/** Creates the container, pulling its image first when the engine does not have it (--pull missing). */
async function createContainer(
  ctx: CommandContext,
  argv: string[],
  detach: boolean,
): Promise<{
  container: Docker.Container;
  body: ReturnType<typeof createRequest>['body'];
  flags: Record<string, unknown>;
}> {
  const parsed = parseFlags(
    argv,
    { ...CONTAINER_FLAGS, detach: { short: 'd' }, 'sig-proxy': { value: false } },
    true,
  );
  const req = createRequest(parsed, { detach, env: ctx.env });
  const pull = asString(parsed.flags.pull) ?? 'missing';
  if (!['missing', 'always', 'never'].includes(pull))
    throw new UsageError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);
  const quiet = parsed.flags.quiet === true;
  const create = () =>
    ctx.docker.createContainer({ ...req.body, name: req.name } as Docker.ContainerCreateOptions);
  if (pull === 'always') await pullImage(ctx, req.body.Image as string, ctx.io.stderr, quiet);
  let container: Docker.Container;
  try {
    container = await create();
  } catch (err) {
    if (!(isNotFound(err) && /no such image/i.test(daemonMessage(err) ?? '')) || pull === 'never') throw err;
    ctx.io.stderr.write(`Unable to find image '${withTag(req.body.Image as string)}' locally\n`);
    await pullImage(ctx, req.body.Image as string, ctx.io.stderr, quiet);
    container = await create();
  }
  const cidfile = asString(parsed.flags.cidfile);
  if (cidfile) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(cidfile, container.id, { flag: 'wx' });
  }
  return { container, body: req.body, flags: parsed.flags };
}

/** docker's runStartContainerErr: what a failed start exits with. */
export function startFailureCode(message: string): number {
  if (
    /executable file not found|no such file or directory|system cannot find the file specified/.test(message)
  )
    return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

const SIGNALS_TO_PROXY: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Sends berth's signals on to the container (docker's --sig-proxy, without a TTY); returns the undo. */
function proxySignals(container: Docker.Container): () => void {
  const handlers = SIGNALS_TO_PROXY.map((sig) => {
    const h = () => void container.kill({ signal: sig }).catch(() => undefined);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}

interface AttachWaitOptions {
  stdin: boolean;
  /** The output streams to attach (run -a); both when not given. */
  stdout?: boolean;
  stderr?: boolean;
  detachKeys?: string;
  /** Start the container once attached (run, start -a). */
  start: boolean;
  autoRemove?: boolean;
  sigProxy?: boolean;
}

/** Attaches, optionally starts, and returns the container's exit code (0 when detached with the keys). */
export async function attachAndWait(ctx: CommandContext, id: string, o: AttachWaitOptions): Promise<number> {
  const container = ctx.docker.getContainer(id);
  const info = await container.inspect();
  const tty = info.Config.Tty;
  const stdin = o.stdin && info.Config.OpenStdin;
  const stream = await attachHijacked(ctx.docker, info.Id, {
    stdin,
    stdout: o.stdout,
    stderr: o.stderr,
    detachKeys: o.detachKeys,
  });
  const session = joinSession(stream, ctx.io, {
    tty,
    stdin,
    detachKeys: o.detachKeys,
    resize: tty ? (size) => container.resize(size) : undefined,
  });
  // next-exit: the default (not-running) would answer at once for a container not started yet.
  const { exited } = await waitRegistered(ctx.docker, info.Id, o.autoRemove ? 'removed' : 'next-exit');
  exited.catch(() => undefined);
  if (o.start) {
    try {
      await container.start();
    } catch (err) {
      stream.destroy();
      const msg = daemonMessage(err);
      if (msg === undefined) throw err;
      ctx.io.stderr.write(
        `berth: Error response from daemon: ${msg}\n\nRun 'berth run --help' for more information\n`,
      );
      if (o.autoRemove) await exited.catch(() => undefined);
      return startFailureCode(msg);
    }
  }
  const undo = !tty && o.sigProxy !== false ? proxySignals(container) : () => undefined;
  try {
    const how = await Promise.race([session, exited.then(() => 'exited' as const)]);
    if (how === 'detached') return 0;
    const { StatusCode } = await exited;
    // The last output may still be on its way when wait answers.
    await Promise.race([session, new Promise((r) => setTimeout(r, 2000))]);
    return StatusCode;
  } finally {
    undo();
  }
}

const run: CommandHandler = async (ctx, argv) => {
  const detach =
    parseFlags(argv, { ...CONTAINER_FLAGS, detach: { short: 'd' }, 'sig-proxy': { value: false } }, true)
      .flags.detach === true;
  let created;
  try {
    created = await createContainer(ctx, argv, detach);
  } catch (err) {
    const { text, code } = describeError(err, ctx.endpoint, 125);
    if (code === 125 && !(err instanceof UsageError)) {
      ctx.io.stderr.write(`berth: ${text}\n\nRun 'berth run --help' for more information\n`);
      return 125;
    }
    throw err;
  }
  const { container, body, flags } = created;
  if (detach) {
    try {
      await container.start();
    } catch (err) {
      const msg = daemonMessage(err);
      if (msg === undefined) throw err;
      ctx.io.stderr.write(
        `berth: Error response from daemon: ${msg}\n\nRun 'berth run --help' for more information\n`,
      );
      return startFailureCode(msg);
    }
    ctx.io.stdout.write(`${container.id}\n`);
    return 0;
  }
  return attachAndWait(ctx, container.id, {
    stdin: body.AttachStdin === true,
    stdout: body.AttachStdout === true,
    stderr: body.AttachStderr === true,
    detachKeys: asString(flags['detach-keys']),
    start: true,
    autoRemove: body.HostConfig?.AutoRemove === true,
    sigProxy: flags['sig-proxy'] !== false,
  });
};

const create: CommandHandler = async (ctx, argv) => {
  try {
    const { container } = await createContainer(ctx, argv, true);
    ctx.io.stdout.write(`${container.id}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const { text } = describeError(err, ctx.endpoint, 125);
    ctx.io.stderr.write(`berth: ${text}\n\nRun 'berth create --help' for more information\n`);
    return 125;
  }
};

const attach: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    'no-stdin': {},
    'detach-keys': { value: true },
    'sig-proxy': {},
  });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  const info = await ctx.docker.getContainer(positionals[0]).inspect();
  if (!info.State.Running) throw new CliError('You cannot attach to a stopped container, start it first');
  return attachAndWait(ctx, positionals[0], {
    stdin: f['no-stdin'] !== true,
    detachKeys: asString(f['detach-keys']),
    start: false,
    sigProxy: f['sig-proxy'] !== false,
  });
};

const exec: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(
    argv,
    {
      detach: { short: 'd' },
      interactive: { short: 'i' },
      tty: { short: 't' },
      env: { short: 'e', value: true, multiple: true },
      'env-file': { value: true, multiple: true },
      user: { short: 'u', value: true },
      workdir: { short: 'w', value: true },
      privileged: {},
      'detach-keys': { value: true },
    },
    true,
  );
  const [id, ...cmd] = positionals;
  if (!id || !cmd.length) throw new UsageError('requires at least 2 arguments');
  const detach = f.detach === true;
  const interactive = f.interactive === true && !detach;
  const tty = f.tty === true;
  const { env } = resolveEnv(asList(f['env-file']), asList(f.env), ctx.env);
  const container = ctx.docker.getContainer(id);
  const execution = await container.exec({
    Cmd: cmd,
    AttachStdin: interactive,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Tty: tty,
    Env: env.length ? env : undefined,
    User: asString(f.user),
    WorkingDir: asString(f.workdir),
    Privileged: f.privileged === true,
    DetachKeys: asString(f['detach-keys']),
  } as Docker.ExecCreateOptions);
  if (detach) {
    await execution.start({ Detach: true });
    return 0;
  }
  let stream: Duplex;
  try {
    stream = (await execution.start({ hijack: true, stdin: interactive, Tty: tty })) as Duplex;
  } catch (err) {
    const msg = daemonMessage(err);
    if (msg === undefined) throw err;
    ctx.io.stderr.write(`Error response from daemon: ${msg}\n`);
    return startFailureCode(msg) === 125 ? 126 : startFailureCode(msg);
  }
  const how = await joinSession(stream, ctx.io, {
    tty,
    stdin: interactive,
    detachKeys: asString(f['detach-keys']),
    resize: tty ? (size) => execution.resize(size) : undefined,
  });
  if (how === 'detached') return 0;
  const info = await execution.inspect();
  return info.ExitCode ?? 0;
};

export const runCommands: Record<string, CommandHandler> = { run, create, attach, exec };
