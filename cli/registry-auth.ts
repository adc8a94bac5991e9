// The credentials `berth login` (or `docker login`) stored in config.json's
// auths, looked up for an image reference's registry as the docker CLI does
// (Docker Hub under https://index.docker.io/v1/, others under their host).
import { readDockerConfig } from './docker-contexts.js';

export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export interface AuthConfig {
  username?: string;
  password?: string;
  serveraddress: string;
}

/** The registry part of a reference: "127.0.0.1:5000/x:1" → "127.0.0.1:5000"; Hub images → the Hub key. */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0];
  const hasRegistry =
    ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasRegistry && first !== 'docker.io' ? first : DOCKER_HUB_AUTH_KEY;
}

export function authFor(ref: string, env: NodeJS.ProcessEnv): AuthConfig {
  const server = registryOf(ref);
  const auths = (readDockerConfig(env).auths ?? {}) as Record<string, { auth?: string }>;
  const entry = auths[server] ?? auths[`https://${server}`] ?? auths[`http://${server}`];
  if (!entry?.auth) return { serveraddress: server };
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return { username: text.slice(0, colon), password: text.slice(colon + 1), serveraddress: server };
}
