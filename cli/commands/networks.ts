// berth network create|ls|inspect|rm|connect|disconnect|prune, as the docker CLI prints them.
import {
  asList,
  asString,
  CliError,
  eachTarget,
  filtersOf,
  type CommandHandler,
} from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { goTimeNano, naturalCompare, shortId } from '../output/human.js';
import { formatList } from '../output/list-format.js';
import { inspectObjects } from './inspect.js';
import { confirm, keyValueList } from './volumes.js';

interface NetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Created?: string;
  Labels?: Record<string, string> | null;
}

const sub: Record<string, CommandHandler> = {
  async create(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, {
      driver: { short: 'd', value: true },
      subnet: { value: true, multiple: true },
      gateway: { value: true, multiple: true },
      'ip-range': { value: true, multiple: true },
      internal: {},
      attachable: {},
      ipv6: {},
      label: { value: true, multiple: true },
      opt: { short: 'o', value: true, multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
    const subnets = asList(f.subnet);
    const gateways = asList(f.gateway);
    const ranges = asList(f['ip-range']);
    if (gateways.length > subnets.length) throw new CliError('every gateway needs a subnet (--subnet)', 1);
    const config = subnets.map((Subnet, i) => ({
      Subnet,
      ...(gateways[i] ? { Gateway: gateways[i] } : {}),
      ...(ranges[i] ? { IPRange: ranges[i] } : {}),
    }));
    const r = (await ctx.docker.createNetwork({
      Name: positionals[0],
      Driver: asString(f.driver) ?? 'bridge',
      Internal: f.internal === true,
      Attachable: f.attachable === true,
      EnableIPv6: f.ipv6 === true,
      Labels: keyValueList(asList(f.label)),
      Options: keyValueList(asList(f.opt)),
      ...(config.length ? { IPAM: { Driver: 'default', Config: config } } : {}),
    })) as unknown as { id: string };
    ctx.io.stdout.write(`${r.id}\n`);
    return 0;
  },
  async ls(ctx, argv) {
    const { flags: f } = parseFlags(argv, {
      quiet: { short: 'q' },
      filter: { short: 'f', value: true, multiple: true },
      format: { value: true },
      'no-trunc': {},
    });
    const filters = filtersOf(f.filter);
    const list = (await ctx.docker.listNetworks(filters ? { filters } : {})) as unknown as NetworkInfo[];
    const trunc = f['no-trunc'] !== true;
    const rows = list
      .sort((a, b) => naturalCompare(a.Name, b.Name))
      .map((n) => ({
        ID: trunc ? shortId(n.Id) : n.Id,
        Name: n.Name,
        Driver: n.Driver,
        Scope: n.Scope,
        IPv4: String(n.EnableIPv4 ?? false),
        IPv6: String(n.EnableIPv6 ?? false),
        Internal: String(n.Internal ?? false),
        Labels: Object.entries(n.Labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        CreatedAt: n.Created ? goTimeNano(n.Created) : '',
      }));
    ctx.io.stdout.write(
      formatList(
        rows,
        {
          defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
          headers: { ID: 'NETWORK ID', IPv4: 'IPV4', IPv6: 'IPV6' },
          quietField: 'ID',
        },
        { format: asString(f.format), quiet: f.quiet === true },
      ),
    );
    return 0;
  },
  async inspect(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, { format: { short: 'f', value: true } });
    return inspectObjects(ctx, positionals, ['network'], asString(f.format), false, true);
  },
  async rm(ctx, argv) {
    const { positionals } = parseFlags(argv, { force: { short: 'f' } });
    const code = await eachTarget(ctx, positionals, async (name) => {
      await ctx.docker.getNetwork(name).remove();
      return name;
    });
    // The docker CLI ends a failed network rm with this line too.
    if (code !== 0) ctx.io.stderr.write('exit status 1\n');
    return code;
  },
  async connect(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, {
      alias: { value: true, multiple: true },
      ip: { value: true },
    });
    if (positionals.length !== 2) throw new UsageError('requires exactly 2 arguments');
    const ip = asString(f.ip);
    await ctx.docker.getNetwork(positionals[0]).connect({
      Container: positionals[1],
      EndpointConfig: {
        Aliases: asList(f.alias),
        ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}),
      },
    });
    return 0;
  },
  async disconnect(ctx, argv) {
    const { flags: f, positionals } = parseFlags(argv, { force: { short: 'f' } });
    if (positionals.length !== 2) throw new UsageError('requires exactly 2 arguments');
    await ctx.docker
      .getNetwork(positionals[0])
      .disconnect({ Container: positionals[1], Force: f.force === true });
    return 0;
  },
  async prune(ctx, argv) {
    const { flags: f } = parseFlags(argv, { force: { short: 'f' }, filter: { value: true, multiple: true } });
    if (
      f.force !== true &&
      !(await confirm(
        ctx,
        'WARNING! This will remove all custom networks not used by at least one container.',
      ))
    )
      return 0;
    const filters = filtersOf(f.filter);
    const r = (await ctx.docker.pruneNetworks(filters ? { filters } : {})) as {
      NetworksDeleted?: string[] | null;
    };
    const deleted = r.NetworksDeleted ?? [];
    if (deleted.length) ctx.io.stdout.write(`Deleted Networks:\n${deleted.join('\n')}\n`);
    return 0;
  },
};
sub.list = sub.ls;
sub.remove = sub.rm;

export const network: CommandHandler = async (ctx, argv) => {
  const [name, ...rest] = argv;
  const handler = name === undefined ? undefined : sub[name];
  if (!handler)
    throw new CliError(
      `berth network: unknown command "${name ?? ''}" (create, ls, inspect, rm, connect, disconnect, prune)`,
      125,
    );
  return handler(ctx, rest);
};
