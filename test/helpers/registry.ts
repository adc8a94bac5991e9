// A real Docker registry (Debian's docker-registry, the Distribution
// registry) on 127.0.0.1 for a test: its config and storage in a temp dir,
// optionally behind htpasswd basic auth or token auth; and a small token
// server standing in for Docker Hub's auth service. Only ever on loopback.
import { createHash, createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { run, spawnProcess } from '../../guest-agent/util/subprocess.js';
import { recordForSweep } from './leftovers.js';
import { freePort } from './free-port.js';

/** A port nobody listens on (for the "unreachable registry" case). */
export { freePort };

export interface TestRegistry {
  /** "127.0.0.1:<port>", as image references name it. */
  host: string;
  dir: string;
  /** Where the registry keeps blobs: docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data. */
  storage: string;
  blobFile(digest: string): string;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  htpasswd?: { username: string; password: string };
  token?: TokenServer;
}

async function waitForHttp(
  url: string,
  timeoutMs: number,
  exited: () => boolean,
  log: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) break;
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(500, () => req.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `the registry did not answer ${url}; its log:\n${await fs.readFile(log, 'utf8').catch(() => '')}`,
  );
}

export async function startRegistry(auth: RegistryAuth = {}): Promise<TestRegistry> {
  const dir = await fs.mkdtemp('/tmp/berth-registry-');
  recordForSweep(dir);
  const storage = path.join(dir, 'storage');
  await fs.mkdir(storage);
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (auth.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    const r = await run('htpasswd', ['-Bbn', auth.htpasswd.username, auth.htpasswd.password]);
    await fs.writeFile(file, r.stdout);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${file}`);
  } else if (auth.token) {
    const bundle = path.join(dir, 'token.crt');
    await fs.writeFile(bundle, auth.token.certPem);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${auth.token.realm}`,
      `    service: ${auth.token.service}`,
      `    issuer: ${auth.token.issuer}`,
      `    rootcertbundle: ${bundle}`,
    );
  }
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(config, lines.join('\n') + '\n');
  const log = path.join(dir, 'registry.log');
  const handle = await fs.open(log, 'a');
  let child: ResultPromise;
  try {
    child = spawnProcess('docker-registry', ['serve', config], {
      cwd: dir,
      stdio: ['ignore', handle.fd, handle.fd] as never,
      forceKillAfterDelay: false,
      reject: false,
    });
  } finally {
    await handle.close();
  }
  let exited = false;
  const done = child.then(
    () => (exited = true),
    () => (exited = true),
  );
  const host = `127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited && child.pid) process.kill(child.pid, 'SIGTERM');
    await done;
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`http://${host}/v2/`, 10_000, () => exited, log);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    dir,
    storage,
    blobFile: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return path.join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certPem: string;
  /** Token requests seen: who asked (or "" for anonymous) and for which scopes. */
  requests: Array<{ user: string; scopes: string[] }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A token server in the manner of Docker Hub's auth service: anonymous
 * requests get pull access, the one user with the right password gets what
 * it asks for, a wrong password is refused with 401.
 */
export async function startTokenServer(user: { username: string; password: string }): Promise<TokenServer> {
  const dir = await fs.mkdtemp('/tmp/berth-token-');
  recordForSweep(dir);
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=berth-test-token-issuer',
  ]);
  const key = createPrivateKey(await fs.readFile(keyFile));
  const certPem = await fs.readFile(certFile, 'utf8');
  const certDer = new X509Certificate(certPem).raw;
  await fs.rm(dir, { recursive: true, force: true });

  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope');
    let who = '';
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
      if (name !== user.username || rest.join(':') !== user.password) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      who = name;
    }
    requests.push({ user: who, scopes });
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(':') as [string, string, string];
      const granted = (actions ?? '').split(',').filter((a) => who !== '' || a === 'pull');
      return type === 'repository' ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: who,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPem,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** sha256 of a file, as "sha256:<hex>". */
export async function fileDigest(file: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex')}`;
}
