// The tables `berth compose ps` and `top` print: docker compose v2's columns.
import type Dockerode from 'dockerode';
import type { ProjectContainer } from '../compose/project-containers.js';
import type { ContainerProcesses } from '../compose/top.js';
import type { ContainerImage } from '../compose/images.js';
import { humanSize } from './output/human.js';

function ago(unixSeconds: number): string {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - unixSeconds));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

export function formatPorts(ports: Dockerode.Port[]): string {
  const seen = new Set<string>();
  return ports
    .map((p) =>
      p.PublicPort
        ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
        : `${p.PrivatePort}/${p.Type}`,
    )
    .filter((p) => !seen.has(p) && seen.add(p))
    .join(', ');
}

/** Columns padded to their widest cell, three spaces apart, as Go's tabwriter lays them out. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map(
      (r) =>
        r
          .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
          .join('   ')
          .trimEnd() + '\n',
    )
    .join('');
}

export function psTable(containers: ProjectContainer[]): string {
  return table([
    ['NAME', 'IMAGE', 'COMMAND', 'SERVICE', 'CREATED', 'STATUS', 'PORTS'],
    ...containers.map((c) => {
      const cmd = c.command.length > 20 ? `${c.command.slice(0, 19)}…` : c.command;
      return [c.name, c.image, `"${cmd}"`, c.service, ago(c.created), c.status, formatPorts(c.ports)];
    }),
  ]);
}

/** Each container's name, then its processes. */
export function topText(list: ContainerProcesses[]): string {
  return list.map((c) => `${c.container}\n${table([c.titles, ...c.processes])}\n`).join('');
}

/** `compose images`: docker compose v2's columns, the id shortened as docker shows it. */
export function imagesTable(images: ContainerImage[]): string {
  return table([
    ['CONTAINER', 'REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'],
    ...images.map((i) => [
      i.container,
      i.repository,
      i.tag,
      i.id.replace(/^sha256:/, '').slice(0, 12),
      humanSize(i.size),
    ]),
  ]);
}
