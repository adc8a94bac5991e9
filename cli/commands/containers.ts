// Container commands that act on existing containers: ps, start, stop,
// restart, kill, rm, pause, unpause, rename, wait, port, top, logs.
import type Docker from 'dockerode';
import { frameParser } from '../../compose/stream-frames.js';
import {
  asString,
  CliError,
  defined,
  eachTarget,
  filtersOf,
  type CommandContext,
  type CommandHandler,
} from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { formatList, templateUses } from '../output/list-format.js';
import {
  displayablePorts,
  ellipsis,
  goTime,
  humanSize,
  shortId,
  since,
  type ApiPort,
} from '../output/human.js';
import { alignColumns } from '../output/tabwriter.js';
import { attachAndWait } from './run.js';

const PS_TABLE =
  'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
const PS_HEADERS = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  // docker heads {{.Label "key"}} with the key.
  Label: (key: string) => key,
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
  Platform: 'PLATFORM',
};

/** One `docker ps` row, with the formatter's field names (cli/command/formatter/container.go). */
export function psRow(c: Docker.ContainerInfo, trunc: boolean): Record<string, unknown> {
  const names = c.Names.map((n) => n.replace(/^\//, '')).filter((n) => !trunc || !n.includes('/'));
  const labels = c.Labels ?? {};
  const mounts = (c.Mounts ?? []).map((m) => {
    const name = (m as { Name?: string }).Name || m.Source;
    return trunc ? ellipsis(name, 15) : name;
  });
  const sizes = c as unknown as { SizeRw?: number; SizeRootFs?: number };
  const row = {
    ID: trunc ? shortId(c.Id) : c.Id,
    Image: trunc && c.Image.startsWith('sha256:') ? shortId(c.Image) : c.Image,
    Command: JSON.stringify(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: goTime(c.Created * 1000),
    RunningFor: since(c.Created),
    Ports: displayablePorts(c.Ports as ApiPort[]),
    State: c.State,
    Status: c.Status,
    Size:
      sizes.SizeRw === undefined
        ? '0B'
        : `${humanSize(sizes.SizeRw)} (virtual ${humanSize(sizes.SizeRootFs ?? 0)})`,
    Names: names.join(','),
    Labels: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Mounts: mounts.join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Type === 'volume').length),
    // The image's platform (API 1.48's ImageManifestDescriptor); this engine's API has none.
    Platform: null,
  };
  // {{.Label "key"}} is a method in docker's formatter; kept out of {{json .}}.
  Object.defineProperty(row, 'Label', { value: (k: string) => labels[k] ?? '', enumerable: false });
  return row;
}

const ps: CommandHandler = async (ctx, argv) => {
  const { flags: f } = parseFlags(argv, {
    all: { short: 'a' },
    quiet: { short: 'q' },
    size: { short: 's' },
    'no-trunc': {},
    latest: { short: 'l' },
    last: { short: 'n', value: true },
    filter: { short: 'f', value: true, multiple: true },
    format: { value: true },
  });
  const last = asString(f.last) === undefined ? -1 : Number(f.last);
  const limit = f.latest === true ? 1 : last;
  const list = await ctx.docker.listContainers(
    defined({
      all: f.all === true || limit > 0,
      size:
        f.size === true ||
        (f.quiet !== true && templateUses(asString(f.format), Object.keys(PS_HEADERS), 'Size')),
      limit: limit > 0 ? limit : undefined,
      filters: filtersOf(f.filter),
    }) as Docker.ContainerListOptions,
  );
  const trunc = f['no-trunc'] !== true;
  let table = PS_TABLE;
  if (f.size === true) table += '\t{{.Size}}';
  ctx.io.stdout.write(
    formatList(
      list.map((c) => psRow(c, trunc)),
      { defaultTable: table, headers: PS_HEADERS, quietField: 'ID' },
      { format: asString(f.format), quiet: f.quiet === true },
    ),
  );
  return 0;
};

const signalFlag = { short: 's', value: true } as const;

const stop: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    time: { short: 't', value: true },
    signal: signalFlag,
    timeout: { value: true },
  });
  const t = asString(f.time) ?? asString(f.timeout);
  return eachTarget(ctx, positionals, async (id) => {
    await notModifiedOk(
      ctx.docker
        .getContainer(id)
        .stop(defined({ t: t === undefined ? undefined : Number(t), signal: asString(f.signal) }) as object),
    );
    return id;
  });
};

/** 304 Not Modified (already stopped, already started) is no error to the docker CLI. */
async function notModifiedOk(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 304) throw err;
  }
}

const restart: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    time: { short: 't', value: true },
    signal: signalFlag,
    timeout: { value: true },
  });
  const t = asString(f.time) ?? asString(f.timeout);
  return eachTarget(ctx, positionals, async (id) => {
    await ctx.docker
      .getContainer(id)
      .restart(defined({ t: t === undefined ? undefined : Number(t), signal: asString(f.signal) }) as object);
    return id;
  });
};

const kill: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, { signal: signalFlag });
  return eachTarget(ctx, positionals, async (id) => {
    await ctx.docker.getContainer(id).kill({ signal: asString(f.signal) ?? 'KILL' });
    return id;
  });
};

const start: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    attach: { short: 'a' },
    interactive: { short: 'i' },
    'detach-keys': { value: true },
  });
  if (f.attach === true || f.interactive === true) {
    if (positionals.length !== 1)
      throw new UsageError('you cannot start and attach multiple containers at once');
    return attachAndWait(ctx, positionals[0], {
      stdin: f.interactive === true,
      detachKeys: asString(f['detach-keys']),
      start: true,
    });
  }
  return eachTarget(ctx, positionals, async (id) => {
    await notModifiedOk(ctx.docker.getContainer(id).start());
    return id;
  });
};

const rm: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    force: { short: 'f' },
    volumes: { short: 'v' },
    link: { short: 'l' },
  });
  return eachTarget(ctx, positionals, async (id) => {
    await ctx.docker
      .getContainer(id)
      .remove({ force: f.force === true, v: f.volumes === true, link: f.link === true });
    return id;
  });
};

const pause: CommandHandler = async (ctx, argv) =>
  eachTarget(ctx, parseFlags(argv, {}).positionals, async (id) => {
    await ctx.docker.getContainer(id).pause();
    return id;
  });

const unpause: CommandHandler = async (ctx, argv) =>
  eachTarget(ctx, parseFlags(argv, {}).positionals, async (id) => {
    await ctx.docker.getContainer(id).unpause();
    return id;
  });

const rename: CommandHandler = async (ctx, argv) => {
  const { positionals } = parseFlags(argv, {});
  if (positionals.length !== 2) throw new UsageError('requires exactly 2 arguments');
  await ctx.docker.getContainer(positionals[0]).rename({ name: positionals[1] });
  return 0;
};

const wait: CommandHandler = async (ctx, argv) =>
  eachTarget(ctx, parseFlags(argv, {}).positionals, async (id) => {
    const r = (await ctx.docker.getContainer(id).wait()) as { StatusCode: number };
    return String(r.StatusCode);
  });

const port: CommandHandler = async (ctx, argv) => {
  const { positionals } = parseFlags(argv, {});
  const [id, want] = positionals;
  if (!id || positionals.length > 2) throw new UsageError('requires at least 1 and at most 2 arguments');
  const info = await ctx.docker.getContainer(id).inspect();
  const ports = (info.NetworkSettings.Ports ?? {}) as Record<
    string,
    Array<{ HostIp: string; HostPort: string }> | null
  >;
  const hostPort = (b: { HostIp: string; HostPort: string }) =>
    b.HostIp.includes(':') ? `[${b.HostIp}]:${b.HostPort}` : `${b.HostIp}:${b.HostPort}`;
  if (want) {
    const key = want.includes('/') ? want : `${want}/tcp`;
    const bindings = ports[key];
    if (!bindings?.length) throw new CliError(`Error: No public port '${key}' published for ${id}`);
    for (const b of bindings) ctx.io.stdout.write(`${hostPort(b)}\n`);
    return 0;
  }
  const keys = Object.keys(ports).sort((a, b) => parseInt(a) - parseInt(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const k of keys) for (const b of ports[k] ?? []) ctx.io.stdout.write(`${k} -> ${hostPort(b)}\n`);
  return 0;
};

const top: CommandHandler = async (ctx, argv) => {
  const { positionals } = parseFlags(argv, {}, true);
  const [id, ...psArgs] = positionals;
  if (!id) throw new UsageError('requires at least 1 argument');
  const r = (await ctx.docker
    .getContainer(id)
    .top(psArgs.length ? { ps_args: psArgs.join(' ') } : undefined)) as {
    Titles: string[];
    Processes: string[][];
  };
  // docker top's table has wider columns (minwidth 20).
  const lines = [r.Titles.join('\t'), ...r.Processes.map((p) => p.join('\t'))];
  ctx.io.stdout.write(alignColumns(lines.join('\n'), 20) + '\n');
  return 0;
};

const logs: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    follow: { short: 'f' },
    tail: { short: 'n', value: true },
    timestamps: { short: 't' },
    since: { value: true },
    until: { value: true },
    details: {},
  });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  const container = ctx.docker.getContainer(positionals[0]);
  const info = await container.inspect();
  const opts = defined({
    stdout: true,
    stderr: true,
    follow: f.follow === true,
    tail: asString(f.tail) ?? 'all',
    timestamps: f.timestamps === true,
    since: asString(f.since),
    until: asString(f.until),
    details: f.details === true,
  });
  const write = info.Config.Tty
    ? (c: Buffer) => ctx.io.stdout.write(c)
    : frameParser((s, data) => (s === 'stderr' ? ctx.io.stderr : ctx.io.stdout).write(data));
  // dockerode answers with a Buffer without follow, with a stream with it.
  const result = (await container.logs(
    opts as unknown as Docker.ContainerLogsOptions & { follow: true },
  )) as unknown;
  if (Buffer.isBuffer(result)) write(result);
  else for await (const chunk of result as NodeJS.ReadableStream) write(Buffer.from(chunk as Buffer));
  return 0;
};

export const containerCommands: Record<string, CommandHandler> = {
  ps,
  start,
  stop,
  restart,
  kill,
  rm,
  pause,
  unpause,
  rename,
  wait,
  port,
  top,
  logs,
};

/** `berth container ls|rm|…`: the same commands under the management command. */
export function containerManagement(
  ctx: CommandContext,
  argv: string[],
  more: Record<string, CommandHandler>,
): Promise<number> {
  const [sub, ...rest] = argv;
  const table: Record<string, CommandHandler> = { ...containerCommands, ...more, ls: ps, list: ps };
  const handler = sub === undefined ? undefined : table[sub];
  if (!handler) throw new UsageError(`unknown container command: "${sub ?? ''}"`);
  return handler(ctx, rest);
}
