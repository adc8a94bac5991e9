// Which engine socket the CLI talks to: DOCKER_HOST, else Berth's own socket
// (the VM's forwarded one, else the native engine's).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const NATIVE_SOCKET = '/var/lib/berth/docker.sock';

export function berthSocketCandidates(): string[] {
  return [path.join(os.homedir(), '.berth', 'docker.sock'), NATIVE_SOCKET];
}

export function engineSocket(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  if (host) throw new Error(`DOCKER_HOST=${host} is not a unix socket; berth talks to unix sockets only`);
  return berthSocketCandidates().find((p) => existsSync(p)) ?? berthSocketCandidates()[0];
}
