// berth volume create|ls|inspect|rm|prune, as the docker CLI prints them.
import type Docker from 'dockerode';
import {
  asList,
  asString,
  CliError,
  eachTarget,
  filtersOf,
  type CommandContext,
  type CommandHandler,
} from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { humanSize, naturalCompare } from '../output/human.js';
import { formatList } from '../output/list-format.js';
import { inspectObjects } from './inspect.js';

export function keyValueList(entries: string[]): Record<string, string> {
  return Object.fromEntries(
    entries.map((e) =>
      e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, ''],
    ),
  );
}

/** Asks "Are you sure…? [y/N]" on stderr and reads the answer from stdin, as docker's prune does without -f. */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  ctx.io.stderr.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString();
      if (text.includes('\n')) done();
    };
    const done = () => {
      ctx.io.stdin.off('data', onData);
      ctx.io.stdin.off('end', done);
      ctx.io.stdin.pause();
      resolve(text);
    };
    ctx.io.stdin.on('data', onData);
    ctx.io.stdin.on('end', done);
    ctx.io.stdin.resume();
  });
  return /^y(es)?$/i.test(answer.trim());
}

function volumeRow(v: Docker.VolumeInspectInfo): Record<string, unknown> {
  return {
    Name: v.Name,
    Driver: v.Driver,
    Scope: (v as { Scope?: string }).Scope ?? 'local',
    Mountpoint: v.Mountpoint,
    Labels: Object.entries(v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Links: 'N/A',
    Size: 'N/A',
    Availability: 'N/A',
    Group: 'N/A',
    Status: 'N/A',
  };
}

const sub: Record<string, CommandHandler> = {
  async create(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, {
      driver: { short: 'd', value: true },
      opt: { short: 'o', value: true, multiple: true },
      label: { value: true, multiple: true },
      name: { value: true },
    });
    if (positionals.length > 1) throw new UsageError('requires at most 1 argument');
    const name = positionals[0] ?? asString(f.name);
    const v = (await ctx.docker.createVolume({
      Name: name ?? '',
      Driver: asString(f.driver) ?? 'local',
      DriverOpts: keyValueList(asList(f.opt)),
      Labels: keyValueList(asList(f.label)),
    })) as unknown as { name: string };
    ctx.io.stdout.write(`${v.name}\n`);
    return 0;
  },
  async ls(ctx, argv) {
    const { flags: f } = parseFlags(argv, {
      quiet: { short: 'q' },
      filter: { short: 'f', value: true, multiple: true },
      format: { value: true },
    });
    const filters = filtersOf(f.filter);
    const r = await ctx.docker.listVolumes(filters ? { filters } : {});
    const rows = (r.Volumes ?? []).sort((a, b) => naturalCompare(a.Name, b.Name)).map(volumeRow);
    ctx.io.stdout.write(
      formatList(
        rows,
        {
          defaultTable: 'table {{.Driver}}\t{{.Name}}',
          headers: { Name: 'VOLUME NAME', Mountpoint: 'MOUNTPOINT' },
          quietField: 'Name',
        },
        { format: asString(f.format), quiet: f.quiet === true },
      ),
    );
    return 0;
  },
  async inspect(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, { format: { short: 'f', value: true } });
    return inspectObjects(ctx, positionals, ['volume'], asString(f.format), false, true);
  },
  async rm(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, { force: { short: 'f' } });
    return eachTarget(ctx, positionals, async (name) => {
      await ctx.docker.getVolume(name).remove({ force: f.force === true });
      return name;
    });
  },
  async prune(ctx, argv) {
    const { flags: f } = parseFlags(argv, {
      force: { short: 'f' },
      all: { short: 'a' },
      filter: { value: true, multiple: true },
    });
    const all = f.all === true;
    if (
      f.force !== true &&
      !(await confirm(
        ctx,
        all
          ? 'WARNING! This will remove all local volumes not used by at least one container.'
          : 'WARNING! This will remove anonymous local volumes not used by at least one container.',
      ))
    )
      return 0;
    const filters = filtersOf(f.filter) ?? {};
    if (all) filters.all = ['true'];
    const r = (await ctx.docker.pruneVolumes({ filters })) as {
      VolumesDeleted?: string[] | null;
      SpaceReclaimed?: number;
    };
    const deleted = r.VolumesDeleted ?? [];
    if (deleted.length) ctx.io.stdout.write(`Deleted Volumes:\n${deleted.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};
sub.list = sub.ls;
sub.remove = sub.rm;

export const volume: CommandHandler = async (ctx, argv) => {
  const [name, ...rest] = argv;
  const handler = name === undefined ? undefined : sub[name];
  if (!handler)
    throw new CliError(`berth volume: unknown command "${name ?? ''}" (create, ls, inspect, rm, prune)`, 125);
  return handler(ctx, rest);
};
