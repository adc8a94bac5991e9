// Which engine the CLI talks to, in the docker CLI's order: -H/--host, then
// --context, then DOCKER_HOST, then DOCKER_CONTEXT, then config.json's
// currentContext, then Berth's own socket (the VM's forwarded one, else the
// native engine's). The context named "default" is Berth's own socket.
import { existsSync } from 'node:fs';
import Docker from 'dockerode';
import { berthHome, vmPaths } from '../vm/paths.js';
import { readContext, readDockerConfig } from './docker-contexts.js';

export const NATIVE_SOCKET = '/var/lib/berth/docker.sock';

/** The VM's forwarded socket ($BERTH_HOME/docker.sock, as vm/ makes it), then the native engine's. */
export function berthSocketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [vmPaths(berthHome(env)).engineSocket, NATIVE_SOCKET];
}

/** Berth's own engine socket: the first that exists, else the VM's. */
export function berthSocket(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = berthSocketCandidates(env);
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

export type Endpoint =
  | { kind: 'unix'; socketPath: string; host: string; from: string }
  | { kind: 'tcp'; hostname: string; port: number; host: string; from: string };

export interface EndpointChoice {
  /** -H/--host. */
  host?: string;
  /** -c/--context. */
  context?: string;
}

export class EndpointError extends Error {}

export function parseHost(host: string, from: string): Endpoint {
  if (host.startsWith('unix://'))
    return { kind: 'unix', socketPath: host.slice('unix://'.length), host, from };
  if (host.startsWith('/')) return { kind: 'unix', socketPath: host, host: `unix://${host}`, from };
  const tcp = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (tcp) {
    return {
      kind: 'tcp',
      hostname: tcp[1].replace(/^\[|\]$/g, ''),
      port: Number(tcp[2] ?? 2375),
      host,
      from,
    };
  }
  throw new EndpointError(
    `${from}: "${host}" is not an address berth can use (unix:///path/to/socket or tcp://host:port)`,
  );
}

function fromContext(name: string, how: string, env: NodeJS.ProcessEnv): Endpoint {
  if (name === 'default') return parseHost(`unix://${berthSocket(env)}`, `${how} "default" (Berth's socket)`);
  const meta = readContext(name, env);
  if (!meta) throw new EndpointError(`context "${name}" does not exist`);
  const host = meta.Endpoints.docker?.Host;
  if (!host) throw new EndpointError(`context "${name}" has no docker endpoint`);
  return parseHost(host, `${how} "${name}"`);
}

export function resolveEndpoint(choice: EndpointChoice = {}, env: NodeJS.ProcessEnv = process.env): Endpoint {
  if (choice.host && choice.context)
    throw new EndpointError('conflicting options: either specify --host or --context, not both');
  if (choice.host) return parseHost(choice.host, '--host');
  if (choice.context) return fromContext(choice.context, '--context', env);
  if (env.DOCKER_HOST) return parseHost(env.DOCKER_HOST, 'DOCKER_HOST');
  if (env.DOCKER_CONTEXT) return fromContext(env.DOCKER_CONTEXT, 'DOCKER_CONTEXT', env);
  const current = readDockerConfig(env).currentContext;
  if (typeof current === 'string' && current) return fromContext(current, 'current context', env);
  return parseHost(`unix://${berthSocket(env)}`, "Berth's socket");
}

export function dockerClient(endpoint: Endpoint): Docker {
  return endpoint.kind === 'unix'
    ? new Docker({ socketPath: endpoint.socketPath })
    : new Docker({ host: endpoint.hostname, port: endpoint.port, protocol: 'http' });
}

/** The engine socket with no -H/--context given (berth compose, doctor); tcp endpoints are refused. */
export function engineSocket(env: NodeJS.ProcessEnv = process.env): string {
  const e = resolveEndpoint({}, env);
  if (e.kind !== 'unix')
    throw new EndpointError(
      `${e.from}=${e.host} is not a unix socket; this command talks to unix sockets only`,
    );
  return e.socketPath;
}
