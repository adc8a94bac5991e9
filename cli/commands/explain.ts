// `berth explain <container>`: how a container is isolated, from the engine's
// GET /berth/containers/{id}/explain, printed for people (or --format json /
// a Go template).
import type { ContainerExplanation } from '../../common/explain.js';
import { explainPath } from '../../common/explain.js';
import { asString, type CommandContext, type CommandHandler } from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { bytesSize, shortId } from '../output/human.js';
import { alignColumns } from '../output/tabwriter.js';
import { parseTemplate } from '../output/template.js';

export function fetchExplanation(ctx: CommandContext, ref: string): Promise<ContainerExplanation> {
  return new Promise((resolve, reject) => {
    ctx.docker.modem.dial(
      {
        path: `${explainPath(ref)}?`,
        method: 'GET',
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
      },
      (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as ContainerExplanation)),
    );
  });
}

const SOURCE_WORDS: Record<string, string> = {
  image: 'image ENV',
  'env-file': '--env-file',
  '-e': '-e',
  'compose environment': 'compose environment',
  'compose env_file': 'compose env_file',
  'compose .env interpolation': 'compose .env interpolation',
  'compose run -e': 'compose run -e',
  'create request': 'create request (client did not say)',
};

export function renderExplanation(x: ContainerExplanation): string {
  const out: string[] = [];
  const table = (rows: string[][]) => alignColumns(rows.map((r) => `  ${r.join('\t')}`).join('\n'));
  out.push(
    `Container ${x.name} (${shortId(x.id)}), image ${x.image}: ${x.running ? `running, pid ${x.pid} on the engine host` : 'not running'}`,
  );

  out.push('', 'Namespaces (inode in the container / on the engine host)');
  if (!x.namespaces.length) out.push('  none while the container is not running');
  else
    out.push(
      table(
        x.namespaces.map((n) => [
          n.type,
          `${n.container} / ${n.host}`,
          n.shared ? 'shared with the host' : 'own',
        ]),
      ),
    );

  const c = x.cgroup;
  const mem = c.memory.limit === null ? 'no limit' : `limit ${bytesSize(c.memory.limit)}`;
  const cpu = c.cpu.limit === null ? 'no limit' : `limit ${Number(c.cpu.limit.toFixed(3))} CPUs`;
  out.push('', `Cgroup ${c.path} (v${c.version})`);
  out.push(
    table([
      ['memory', `${mem}${c.memory.usage === null ? '' : `, ${bytesSize(c.memory.usage)} in use`}`],
      [
        'cpu',
        `${cpu}${c.cpu.shares === null ? '' : `, shares ${c.cpu.shares}`}${c.cpu.cpuset ? `, cpus ${c.cpu.cpuset}` : ''}${c.cpu.usageNanos === null ? '' : `, ${(c.cpu.usageNanos / 1e9).toFixed(2)}s used`}`,
      ],
      [
        'pids',
        `${c.pids.limit === null ? 'no limit' : `limit ${c.pids.limit}`}${c.pids.current === null ? '' : `, ${c.pids.current} now`}`,
      ],
    ]),
  );

  const r = x.rootfs;
  out.push('', `Root filesystem (${r.driver}, ${r.readOnly ? 'read-only' : 'writable'})`);
  out.push(
    table([
      ['merged', r.merged],
      ['upper', `${r.upperDir} (the container's own changes)`],
      ...r.lowerDirs.map((d, i) => [i === 0 ? 'lower' : '', `${d}${i === 0 ? ' (top image layer)' : ''}`]),
    ]),
  );

  out.push('', 'Mounts');
  if (!x.mounts.length) out.push('  none');
  else
    out.push(
      table(
        x.mounts.map((m) => [
          m.type,
          `${m.source || m.type} → ${m.destination}`,
          m.readOnly ? 'ro' : 'rw',
          m.hostPath && m.hostPath !== m.source ? m.hostPath : '',
        ]),
      ),
    );

  out.push('', `Network (mode ${x.networkMode})`);
  if (!x.networks.length)
    out.push(`  ${x.running ? 'no interfaces but loopback' : 'none while the container is not running'}`);
  else
    out.push(
      table(
        x.networks.map((n) => [
          n.name,
          `${n.ipAddress}/${n.prefixLen}`,
          `mac ${n.macAddress}`,
          `gateway ${n.gateway || '-'}`,
          `veth ${n.vethHost ?? '-'} on bridge ${n.bridge ?? '-'}`,
        ]),
      ),
    );

  out.push('', 'Published ports');
  if (!x.ports.length) out.push('  none');
  else
    out.push(
      table(
        x.ports.map((p) => [
          `${p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp || '0.0.0.0'}:${p.hostPort}`,
          `→ ${p.containerPort}/${p.protocol}`,
        ]),
      ),
    );

  out.push('', 'Environment (where each value came from)');
  if (!x.env.length) out.push('  none');
  else
    out.push(
      table(
        x.env.map((e) => [
          `${e.key}=${e.value}`,
          `${SOURCE_WORDS[e.source] ?? e.source}${e.imageValue !== undefined ? ` (image had ${e.imageValue})` : ''}`,
        ]),
      ),
    );
  return out.join('\n') + '\n';
}

export const explain: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, { format: { short: 'f', value: true } });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  const x = await fetchExplanation(ctx, positionals[0]);
  const format = asString(f.format);
  if (format === 'json') ctx.io.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
  else if (format) ctx.io.stdout.write(`${parseTemplate(format).execute(x)}\n`);
  else ctx.io.stdout.write(renderExplanation(x));
  return 0;
};
