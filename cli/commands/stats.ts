// berth stats: CPU, memory, network, block I/O and pids per container, worked
// out from the engine's samples the way the docker CLI does (cli/command/container/stats_helpers.go).
import type Docker from 'dockerode';
import { asString, type CommandContext, type CommandHandler } from '../command-context.js';
import { parseFlags } from '../flag-parser.js';
import { bytesSize, humanSize, shortId } from '../output/human.js';
import { formatList } from '../output/list-format.js';

interface Sample {
  id?: string;
  name?: string;
  cpu_stats?: {
    cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  pids_stats?: { current?: number };
}

const pct = (n: number) => `${n.toFixed(2)}%`;

/** `asked`: the name or ID the user gave (docker's Container column), else the short ID. */
export function statsRow(
  id: string,
  asked: string | undefined,
  s: Sample,
  trunc: boolean,
): Record<string, unknown> {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const systemDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPercent = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  const st = mem.stats ?? {};
  // As docker: page cache that could be dropped is not counted as use (cgroup v1, then v2 names).
  const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
  const usage = Math.max(0, (mem.usage ?? 0) - (inactive < (mem.usage ?? 0) ? inactive : 0));
  const limit = mem.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') write += e.value;
  }
  const name = (s.name ?? '').replace(/^\//, '');
  return {
    Container: asked ?? (trunc ? shortId(id) : id),
    ID: trunc ? shortId(id) : id,
    Name: name || '--',
    CPUPerc: pct(cpuPercent),
    MemUsage: `${bytesSize(usage)} / ${bytesSize(limit)}`,
    MemPerc: pct(limit > 0 ? (usage / limit) * 100 : 0),
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(read)} / ${humanSize(write)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_FORMAT = {
  defaultTable:
    'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}',
  headers: {
    ID: 'CONTAINER ID',
    Container: 'CONTAINER',
    Name: 'NAME',
    CPUPerc: 'CPU %',
    MemUsage: 'MEM USAGE / LIMIT',
    MemPerc: 'MEM %',
    NetIO: 'NET I/O',
    BlockIO: 'BLOCK I/O',
    PIDs: 'PIDS',
  },
  quietField: 'ID',
};

async function sampleAll(
  ctx: CommandContext,
  targets: Array<{ id: string; asked?: string }>,
  trunc: boolean,
): Promise<Record<string, unknown>[]> {
  return Promise.all(
    targets.map(async ({ id, asked }) =>
      statsRow(
        id,
        asked,
        (await ctx.docker.getContainer(id).stats({ stream: false })) as unknown as Sample,
        trunc,
      ),
    ),
  );
}

export const stats: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    all: { short: 'a' },
    'no-stream': {},
    'no-trunc': {},
    format: { value: true },
  });
  const trunc = f['no-trunc'] !== true;
  const format = asString(f.format);
  const ids = async () =>
    positionals.length
      ? Promise.all(
          positionals.map(async (p) => ({ id: (await ctx.docker.getContainer(p).inspect()).Id, asked: p })),
        )
      : (await ctx.docker.listContainers({ all: f.all === true } as Docker.ContainerListOptions)).map(
          (c) => ({
            id: c.Id,
          }),
        );
  if (f['no-stream'] === true) {
    ctx.io.stdout.write(formatList(await sampleAll(ctx, await ids(), trunc), STATS_FORMAT, { format }));
    return 0;
  }
  const tty = (ctx.io.stdout as { isTTY?: boolean }).isTTY === true;
  for (;;) {
    const rows = await sampleAll(ctx, await ids(), trunc);
    // As docker on a terminal: the screen cleared and the table drawn again each time.
    ctx.io.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${formatList(rows, STATS_FORMAT, { format })}`);
  }
};
