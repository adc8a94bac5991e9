// `docker run --link other:alias`, the legacy links: the linked container's
// address under the alias (and its name and hostname) in /etc/hosts, and on
// the default bridge dockerd's ALIAS_PORT_…/ALIAS_NAME/ALIAS_ENV_… variables.
import { conflict, invalid } from '../errors.js';
import type { ContainerRecord } from './container-store.js';

export interface Link {
  /** The linked container's name, without the leading slash. */
  child: string;
  alias: string;
}

/** "name", "name:alias", or dockerd's stored "/name:/parent/alias". */
export function parseLink(spec: string): Link {
  const at = spec.indexOf(':');
  const child = (at < 0 ? spec : spec.slice(0, at)).replace(/^\//, '');
  const alias =
    at < 0
      ? child
      : spec
          .slice(at + 1)
          .split('/')
          .pop()!;
  if (!child || !alias) throw invalid(`invalid link: ${JSON.stringify(spec)}: expected name:alias`);
  return { child, alias };
}

/** As dockerd stores and shows HostConfig.Links: "/child:/parent/alias". */
export function storedLink(link: Link, parentName: string): string {
  return `/${link.child}:/${parentName.replace(/^\//, '')}/${link.alias}`;
}

export function checkLinksAllowed(networkMode: string): void {
  if (networkMode === 'host')
    throw invalid(
      "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
    );
  if (networkMode.startsWith('container:'))
    throw invalid(
      "conflicting options: container type network can't be used with links. This would result in undefined behavior",
    );
}

/** The linked container, which must be running when its linker starts. */
export function runningChild(
  link: Link,
  child: ContainerRecord | undefined,
  parentName: string,
): ContainerRecord {
  const shown = `/${link.child} AS ${parentName}/${link.alias}`;
  if (!child || !child.State.Running) throw conflict(`Cannot link to a non running container: ${shown}`);
  return child;
}

/** /etc/hosts entries ("name:ip", as --add-host) for one linked container. */
export function linkHostEntries(link: Link, child: ContainerRecord, ip: string): string[] {
  const names = new Set([
    link.alias,
    child.Name.replace(/^\//, ''),
    child.Config.Hostname ?? child.Id.slice(0, 12),
  ]);
  return [...names].map((n) => `${n}:${ip}`);
}

/** dockerd's link variables for a linked container on the default bridge. */
export function linkEnv(link: Link, parentName: string, child: ContainerRecord, ip: string): string[] {
  const alias = link.alias.toUpperCase().replaceAll('-', '_');
  const ports = Object.keys(child.Config.ExposedPorts ?? {})
    .map((p) => {
      const [port, proto = 'tcp'] = p.split('/');
      return { port: Number(port), proto: proto.toLowerCase() };
    })
    .filter((p) => Number.isInteger(p.port) && p.port > 0)
    .sort((a, b) => a.port - b.port || (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0));
  const env: string[] = [];
  const first = ports[0];
  if (first) env.push(`${alias}_PORT=${first.proto}://${ip}:${first.port}`);
  const portEnv = (port: number, proto: string) => {
    const key = `${alias}_PORT_${port}_${proto.toUpperCase()}`;
    return [
      `${key}=${proto}://${ip}:${port}`,
      `${key}_ADDR=${ip}`,
      `${key}_PORT=${port}`,
      `${key}_PROTO=${proto}`,
    ];
  };
  // Runs of consecutive ports of one protocol also get dockerd's _START/_END variables.
  for (let i = 0; i < ports.length;) {
    const start = ports[i]!;
    let end = start;
    while (ports[i + 1]?.proto === start.proto && ports[i + 1]!.port === end.port + 1) end = ports[++i]!;
    i++;
    if (end === start) {
      env.push(...portEnv(start.port, start.proto));
      continue;
    }
    const key = `${alias}_PORT_${start.port}_${start.proto.toUpperCase()}`;
    env.push(
      `${key}_START=${start.proto}://${ip}:${start.port}`,
      `${key}_ADDR=${ip}`,
      `${key}_PORT_START=${start.port}`,
      `${key}_PORT_END=${end.port}`,
      `${key}_END=${start.proto}://${ip}:${end.port}`,
    );
    for (let port = start.port; port <= end.port; port++) env.push(...portEnv(port, start.proto));
  }
  env.push(`${alias}_NAME=/${parentName.replace(/^\//, '')}/${link.alias}`);
  for (const entry of child.Config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    // Set by the image build for the child itself, not something to pass on.
    if (name === 'HOME' || name === 'PATH') continue;
    env.push(`${alias}_ENV_${name}=${entry.slice(eq + 1)}`);
  }
  return env;
}
