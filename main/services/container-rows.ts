// Engine list entries → the dashboard's container rows.
import type Docker from 'dockerode';
import type { ContainerRow, ContainerStateName, PortRow } from '../../common/desktop-api.js';

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

export function toContainerRow(c: Docker.ContainerInfo): ContainerRow {
  const labels = c.Labels ?? {};
  const ports: PortRow[] = (c.Ports ?? []).map((p) => ({
    privatePort: p.PrivatePort,
    publicPort: p.PublicPort || undefined,
    ip: p.IP || undefined,
    type: (p.Type as PortRow['type']) ?? 'tcp',
  }));
  // The same host port shows once per address family (0.0.0.0 and ::); once is enough.
  const seen = new Set<string>();
  const uniquePorts = ports.filter((p) => {
    const key = `${p.privatePort}/${p.type}:${p.publicPort ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
    image: c.Image,
    state: c.State as ContainerStateName,
    status: c.Status,
    created: c.Created,
    project: labels[COMPOSE_PROJECT_LABEL] || undefined,
    service: labels[COMPOSE_SERVICE_LABEL] || undefined,
    ports: uniquePorts,
    command: c.Command ?? '',
  };
}
