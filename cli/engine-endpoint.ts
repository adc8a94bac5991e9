// Which engine the CLI talks to, in the docker CLI's order: -H/--host, then
// --context, then DOCKER_HOST, then DOCKER_CONTEXT, then config.json's
// currentContext, then Berth's own socket (the VM's forwarded one, else the
// native engine's). The context named "default" is Berth's own socket.
// tcp:// endpoints take TLS as the docker CLI does (--tls, --tlsverify,
// --tlscacert/--tlscert/--tlskey, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, or a
// context's TLS files); ssh:// endpoints run `ssh HOST docker system dial-stdio`.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import Docker from 'dockerode';
import { berthHome, vmPaths } from '../vm/paths.js';
import { contextTlsDir, dockerConfigDir, readContext, readDockerConfig } from './docker-contexts.js';
import { sshAgent, parseSshHost, type SshTarget } from './ssh-dial.js';

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

/** What a TLS connection to the engine presents and checks. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Check the engine's certificate against `ca` (otherwise TLS without verification, as --tls). */
  verify: boolean;
}

export type Endpoint =
  | { kind: 'unix'; socketPath: string; host: string; from: string }
  | { kind: 'tcp'; hostname: string; port: number; host: string; from: string; tls?: TlsMaterial }
  | { kind: 'ssh'; target: SshTarget; host: string; from: string };

/** The docker CLI's global TLS flags, as given (undefined when not). */
export interface TlsFlags {
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

export interface EndpointChoice {
  /** -H/--host. */
  host?: string;
  /** -c/--context. */
  context?: string;
  tls?: TlsFlags;
}

export class EndpointError extends Error {}

export function parseHost(host: string, from: string, tls?: TlsMaterial): Endpoint {
  if (host.startsWith('unix://'))
    return { kind: 'unix', socketPath: host.slice('unix://'.length), host, from };
  if (host.startsWith('/')) return { kind: 'unix', socketPath: host, host: `unix://${host}`, from };
  if (host.startsWith('ssh://')) return { kind: 'ssh', target: parseSshHost(host), host, from };
  const tcp = /^(?:tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (tcp) {
    return {
      kind: 'tcp',
      hostname: tcp[1].replace(/^\[|\]$/g, ''),
      // As the docker CLI: 2376 is the TLS port, 2375 the plain one.
      port: Number(tcp[2] ?? (tls ? 2376 : 2375)),
      host,
      from,
      ...(tls ? { tls } : {}),
    };
  }
  throw new EndpointError(
    `${from}: "${host}" is not an address berth can use (unix:///path/to/socket, tcp://host:port or ssh://[user@]host[:port])`,
  );
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EndpointError(
      `could not read ${what} "${file}": ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
}

/**
 * TLS from the global flags and the environment, as the docker CLI reads them:
 * --tlsverify or DOCKER_TLS_VERIFY turn on TLS with verification, --tls or
 * DOCKER_TLS without; files default to ca.pem, cert.pem and key.pem in
 * DOCKER_CERT_PATH (else the config dir), the client pair only if it exists.
 */
export function tlsFromFlags(
  flags: TlsFlags = {},
  env: NodeJS.ProcessEnv = process.env,
): TlsMaterial | undefined {
  const verify = flags.tlsverify ?? Boolean(env.DOCKER_TLS_VERIFY);
  const tls = verify || flags.tls === true || (flags.tls === undefined && Boolean(env.DOCKER_TLS));
  if (!tls) return undefined;
  const certDir = env.DOCKER_CERT_PATH || dockerConfigDir(env);
  const material: TlsMaterial = { verify };
  if (verify) material.ca = readPem(flags.tlscacert ?? path.join(certDir, 'ca.pem'), 'CA certificate');
  const certFile = flags.tlscert ?? path.join(certDir, 'cert.pem');
  const keyFile = flags.tlskey ?? path.join(certDir, 'key.pem');
  const wantCert = flags.tlscert !== undefined || existsSync(certFile);
  const wantKey = flags.tlskey !== undefined || existsSync(keyFile);
  if (wantCert !== wantKey)
    throw new EndpointError('both a client certificate and a client key must be given for TLS');
  if (wantCert) {
    material.cert = readPem(certFile, 'client certificate');
    material.key = readPem(keyFile, 'client key');
  }
  return material;
}

/** A context's TLS files (contexts/tls/<digest>/docker/{ca,cert,key}.pem), if it has any. */
function contextTls(name: string, skipVerify: boolean, env: NodeJS.ProcessEnv): TlsMaterial | undefined {
  const dir = contextTlsDir(name, env);
  const read = (f: string) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f)) : undefined);
  const [ca, cert, key] = [read('ca.pem'), read('cert.pem'), read('key.pem')];
  if (!ca && !cert && !key && !skipVerify) return undefined;
  return { ca, cert, key, verify: !skipVerify };
}

function fromContext(name: string, how: string, env: NodeJS.ProcessEnv): Endpoint {
  if (name === 'default') return parseHost(`unix://${berthSocket(env)}`, `${how} "default" (Berth's socket)`);
  const meta = readContext(name, env);
  if (!meta) throw new EndpointError(`context "${name}" does not exist`);
  const docker = meta.Endpoints.docker;
  if (!docker?.Host) throw new EndpointError(`context "${name}" has no docker endpoint`);
  return parseHost(docker.Host, `${how} "${name}"`, contextTls(name, docker.SkipTLSVerify === true, env));
}

export function resolveEndpoint(choice: EndpointChoice = {}, env: NodeJS.ProcessEnv = process.env): Endpoint {
  if (choice.host && choice.context)
    throw new EndpointError('conflicting options: either specify --host or --context, not both');
  // TLS flags and variables belong to -H and DOCKER_HOST; a context carries its own.
  const tls = () => tlsFromFlags(choice.tls, env);
  if (choice.host) return parseHost(choice.host, '--host', tls());
  if (choice.context) return fromContext(choice.context, '--context', env);
  if (env.DOCKER_HOST) return parseHost(env.DOCKER_HOST, 'DOCKER_HOST', tls());
  if (env.DOCKER_CONTEXT) return fromContext(env.DOCKER_CONTEXT, 'DOCKER_CONTEXT', env);
  const current = readDockerConfig(env).currentContext;
  if (typeof current === 'string' && current) return fromContext(current, 'current context', env);
  return parseHost(`unix://${berthSocket(env)}`, "Berth's socket");
}

const agents = new WeakMap<Endpoint, http.Agent>();

/** The connection maker of a tcp+TLS or ssh endpoint (one per endpoint); undefined for the others. */
function agentOf(endpoint: Endpoint): http.Agent | undefined {
  if (endpoint.kind === 'unix' || (endpoint.kind === 'tcp' && !endpoint.tls)) return undefined;
  let agent = agents.get(endpoint);
  if (!agent) {
    if (endpoint.kind === 'ssh') agent = sshAgent(endpoint.target);
    else {
      const tls = endpoint.tls as TlsMaterial;
      agent = new https.Agent({
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.verify,
      });
    }
    agents.set(endpoint, agent);
  }
  return agent;
}

/** The node:http(s) module and request options that reach the engine of `endpoint`. */
export function requestTarget(endpoint: Endpoint): {
  module: typeof http | typeof https;
  options: http.RequestOptions;
} {
  if (endpoint.kind === 'unix') return { module: http, options: { socketPath: endpoint.socketPath } };
  const agent = agentOf(endpoint);
  if (endpoint.kind === 'ssh') return { module: http, options: { host: 'localhost', agent } };
  return {
    module: endpoint.tls ? https : http,
    options: { host: endpoint.hostname, port: endpoint.port, ...(agent ? { agent } : {}) },
  };
}

export function dockerClient(endpoint: Endpoint): Docker {
  if (endpoint.kind === 'unix') return new Docker({ socketPath: endpoint.socketPath });
  // The agent makes every connection (TLS handshake, or the ssh pipe), hijacked streams too.
  // docker-modem passes `agent` to every request; its typings leave it out.
  const agent = agentOf(endpoint);
  const options =
    endpoint.kind === 'ssh'
      ? { host: 'localhost', protocol: 'http' as const, agent }
      : {
          host: endpoint.hostname,
          port: endpoint.port,
          protocol: endpoint.tls ? ('https' as const) : ('http' as const),
          ...(agent ? { agent } : {}),
        };
  return new Docker(options as Docker.DockerOptions);
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
