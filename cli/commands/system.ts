// version, info, events, login: the engine and the client, as the docker CLI shows them.
import path from 'node:path';
import { BERTH_VERSION, API_VERSION } from '../../common/engine-api.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import {
  asString,
  CliError,
  defined,
  describeError,
  filtersOf,
  type CommandContext,
  type CommandHandler,
} from '../command-context.js';
import { dockerConfigDir, readDockerConfig } from '../docker-contexts.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { parseTemplate } from '../output/template.js';
import { bytesSize } from '../output/human.js';
import { DOCKER_HUB_AUTH_KEY } from '../registry-auth.js';

function clientInfo(ctx: CommandContext) {
  return {
    Platform: { Name: 'Berth' },
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    Os: process.platform,
    Arch: process.arch,
    Context: ctx.endpoint.from,
    Host: ctx.endpoint.host,
  };
}

const version: CommandHandler = async (ctx, argv) => {
  const { flags: f } = parseFlags(argv, { format: { short: 'f', value: true } });
  const format = asString(f.format);
  const client = clientInfo(ctx);
  let server: Record<string, unknown> | undefined;
  let failure: string | undefined;
  let failed: unknown;
  try {
    server = (await ctx.docker.version()) as unknown as Record<string, unknown>;
  } catch (err) {
    failure = (err as Error).message;
    failed = err;
  }
  if (format) {
    ctx.io.stdout.write(
      `${parseTemplate(format === 'json' ? '{{json .}}' : format).execute({ Client: client, Server: server ?? null })}\n`,
    );
    // As the docker CLI: the client's half is printed, then why the server's is missing.
    if (!server) ctx.io.stderr.write(`${describeError(failed, ctx.endpoint).text}\n`);
    return server ? 0 : 1;
  }
  ctx.io.stdout.write(`Client: Berth ${BERTH_VERSION}\n`);
  if (!server) {
    ctx.io.stdout.write(`Server: not reachable at ${ctx.endpoint.host}: ${failure}\n`);
    return 1;
  }
  const platform = (server.Platform as { Name?: string } | undefined)?.Name ?? 'unknown';
  ctx.io.stdout.write(
    `Server: ${platform} (API ${String(server.ApiVersion)}, Docker ${String(server.Version)} compatible) on ${ctx.endpoint.host}\n`,
  );
  return 0;
};

const info: CommandHandler = async (ctx, argv) => {
  const { flags: f } = parseFlags(argv, { format: { short: 'f', value: true } });
  const i = (await ctx.docker.info()) as Record<string, unknown>;
  const format = asString(f.format);
  if (format) {
    ctx.io.stdout.write(
      `${parseTemplate(format === 'json' ? '{{json .}}' : format).execute({ ...i, ClientInfo: clientInfo(ctx) })}\n`,
    );
    return 0;
  }
  const line = (label: string, value: unknown, indent = 1) =>
    ctx.io.stdout.write(`${' '.repeat(indent)}${label}: ${String(value ?? '')}\n`);
  ctx.io.stdout.write('Client:\n');
  line('Version', BERTH_VERSION);
  line('Context', ctx.endpoint.from);
  line('Host', ctx.endpoint.host);
  ctx.io.stdout.write('\nServer:\n');
  line('Containers', i.Containers);
  line('Running', i.ContainersRunning, 2);
  line('Paused', i.ContainersPaused, 2);
  line('Stopped', i.ContainersStopped, 2);
  line('Images', i.Images);
  line('Server Version', i.ServerVersion);
  line('Storage Driver', i.Driver);
  line('Logging Driver', i.LoggingDriver);
  line('Cgroup Driver', i.CgroupDriver);
  line('Cgroup Version', i.CgroupVersion);
  line('Runtimes', Object.keys((i.Runtimes as object | undefined) ?? {}).join(' '));
  line('Default Runtime', i.DefaultRuntime);
  line('Kernel Version', i.KernelVersion);
  line('Operating System', i.OperatingSystem);
  line('OSType', i.OSType);
  line('Architecture', i.Architecture);
  line('CPUs', i.NCPU);
  line('Total Memory', bytesSize(Number(i.MemTotal ?? 0)));
  line('Name', i.Name);
  line('ID', i.ID);
  line('Docker Root Dir', i.DockerRootDir);
  return 0;
};

/** RFC3339 with 9 fraction digits in the local zone, as docker events prints times. */
function rfc3339Nano(timeNano: bigint): string {
  const ms = Number(timeNano / 1_000_000n);
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const zone =
    off === 0
      ? 'Z'
      : `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  const frac = String(timeNano % 1_000_000_000n).padStart(9, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${frac}${zone}`;
}

interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano?: number;
}

const events: CommandHandler = async (ctx, argv) => {
  const { flags: f } = parseFlags(argv, {
    since: { value: true },
    until: { value: true },
    filter: { short: 'f', value: true, multiple: true },
    format: { value: true },
  });
  const stream = (await ctx.docker.getEvents(
    defined({ since: asString(f.since), until: asString(f.until), filters: filtersOf(f.filter) }) as object,
  )) as NodeJS.ReadableStream;
  const format = asString(f.format);
  const tmpl = format ? parseTemplate(format === 'json' ? '{{json .}}' : format) : undefined;
  let pending = '';
  for await (const chunk of stream) {
    pending += Buffer.from(chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!text) continue;
      const e = JSON.parse(text) as EngineEvent;
      // timeNano is beyond a double's precision: taken from the text.
      const nanoText = /"timeNano":(\d+)/.exec(text)?.[1];
      if (tmpl) {
        ctx.io.stdout.write(`${tmpl.execute(e)}\n`);
        continue;
      }
      const nano = nanoText !== undefined ? BigInt(nanoText) : BigInt(e.time) * 1_000_000_000n;
      const attrs = Object.entries(e.Actor.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
      const tail = attrs.length ? ` (${attrs.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
      ctx.io.stdout.write(`${rfc3339Nano(nano)} ${e.Type} ${e.Action} ${e.Actor.ID}${tail}\n`);
    }
  }
  return 0;
};

const DEFAULT_REGISTRY = DOCKER_HUB_AUTH_KEY;

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const c of stream) text += Buffer.from(c as Buffer).toString('utf8');
  return text;
}

const login: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    username: { short: 'u', value: true },
    password: { short: 'p', value: true },
    'password-stdin': {},
  });
  if (positionals.length > 1) throw new UsageError('requires at most 1 argument');
  const server = positionals[0] ?? DEFAULT_REGISTRY;
  const username = asString(f.username);
  let password = asString(f.password);
  if (f['password-stdin'] === true) {
    if (password !== undefined)
      throw new UsageError('--password and --password-stdin are mutually exclusive');
    if (!username) throw new UsageError('Must provide --username with --password-stdin');
    password = (await readStdin(ctx.io.stdin)).replace(/\r?\n$/, '');
  }
  if (!username || password === undefined)
    throw new CliError(
      'Error: Cannot perform an interactive login from a non TTY device; give --username and --password-stdin',
    );
  if (f.password !== undefined)
    ctx.io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  await ctx.docker.checkAuth({ username, password, serveraddress: server });
  const config = readDockerConfig(ctx.env);
  const auths = (config.auths as Record<string, unknown> | undefined) ?? {};
  auths[server] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  config.auths = auths;
  const file = path.join(dockerConfigDir(ctx.env), 'config.json');
  await writeFileAtomic(file, JSON.stringify(config, null, '\t') + '\n', 0o600, { mkdir: true });
  ctx.io.stdout.write('Login Succeeded\n');
  return 0;
};

const logout: CommandHandler = async (ctx, argv) => {
  const { positionals } = parseFlags(argv, {});
  const server = positionals[0] ?? DEFAULT_REGISTRY;
  const config = readDockerConfig(ctx.env);
  const auths = (config.auths as Record<string, unknown> | undefined) ?? {};
  if (!(server in auths)) {
    ctx.io.stdout.write(`Not logged in to ${server}\n`);
    return 0;
  }
  delete auths[server];
  await writeFileAtomic(
    path.join(dockerConfigDir(ctx.env), 'config.json'),
    JSON.stringify(config, null, '\t') + '\n',
    0o600,
    { mkdir: true },
  );
  ctx.io.stdout.write(`Removing login credentials for ${server}\n`);
  return 0;
};

export const systemCommands: Record<string, CommandHandler> = { version, info, events, login, logout };
