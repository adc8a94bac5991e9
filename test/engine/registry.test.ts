// Registry pull, push, login and logout with the real docker CLI against a
// real Distribution registry on loopback (open, htpasswd basic auth, and
// token auth with a stand-in for Docker Hub's auth service).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../guest-agent/util/subprocess.js';
import { docker } from '../helpers/docker.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import {
  freePort,
  startRegistry,
  startTokenServer,
  type TestRegistry,
  type TokenServer,
} from '../helpers/registry.js';

const idOf = async (engine: TestEngine, ref: string) =>
  (await docker(engine, ['inspect', '--format', '{{.Id}}', ref])).stdout.trim();

/** Run fn with a fresh engine (a clean data root), cleaned up afterwards. */
async function withFreshEngine<T>(fn: (e: TestEngine) => Promise<T>): Promise<T> {
  const engine = await startEngine();
  try {
    return await fn(engine);
  } finally {
    await engine.cleanup();
  }
}

/** What a failed pull must not leave: image records, layers, work dirs. */
async function storeContents(engine: TestEngine): Promise<{ images: number; layers: number; tmp: number }> {
  const count = async (dir: string) =>
    (await fs.readdir(path.join(engine.dataRoot, dir)).catch(() => [])).length;
  return {
    images: await count('image/images'),
    layers: await count('layers'),
    tmp: await count('image/tmp'),
  };
}

/** A one-file layer tar with unique content, in a temp dir the test process removes on exit. */
async function layerTar(label: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-layer-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'file'), `${label} ${Date.now()} ${Math.random()}\n`);
  const tarFile = path.join(dir, 'layer.tar');
  await run('tar', ['-C', dir, '-cf', tarFile, 'file']);
  return tarFile;
}

describe('registry: open registry on loopback', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  it('pushes, and a clean engine pulls back the same image id', async () => {
    const ref = `${registry.host}/busybox:latest`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    const push = await d('push', ref);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${registry.host}/busybox\\]`));
    assert.match(push.stdout, /: Pushed$/m);
    assert.match(push.stdout, /^latest: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)![1]!;
    const repoDigests = (await d('inspect', '--format', '{{json .RepoDigests}}', ref)).stdout;
    assert.match(repoDigests, new RegExp(`${registry.host}/busybox@${digest}`));

    const again = await d('push', ref);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /: Layer already exists$/m);
    assert.doesNotMatch(again.stdout, /: Pushed$/m);

    const id = await idOf(engine(), 'busybox');
    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', ref]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, /^latest: Pulling from busybox$/m);
      assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
      assert.match(pull.stdout, new RegExp(`^Digest: ${digest}$`, 'm'));
      assert.match(
        pull.stdout,
        new RegExp(`^Status: Downloaded newer image for ${registry.host}/busybox:latest$`, 'm'),
      );
      assert.equal(await idOf(fresh, ref), id);
      assert.match(
        (await docker(fresh, ['inspect', '--format', '{{json .RepoDigests}}', ref])).stdout,
        new RegExp(`${registry.host}/busybox@${digest}`),
      );
      const run = await docker(fresh, ['run', '--rm', ref, 'echo', 'pulled']);
      assert.equal(run.stdout, 'pulled\n', run.stderr);
      const second = await docker(fresh, ['pull', ref]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(
        second.stdout,
        new RegExp(`Status: Image is up to date for ${registry.host}/busybox:latest`),
      );
    });
  });

  it('a large layer, unpacked on a worker beside its download, arrives intact', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-big-layer-'));
    try {
      // 8 MB that gzip cannot shrink: over the size at which a layer is unpacked on a worker thread.
      const data = path.join(dir, 'rootfs');
      await fs.mkdir(path.join(data, 'data'), { recursive: true });
      await fs.writeFile(path.join(data, 'data', 'big.bin'), randomBytes(8 * 1024 * 1024));
      const sum = (await run('sha256sum', [path.join(data, 'data', 'big.bin')])).stdout.split(' ')[0];
      await run('tar', ['-C', data, '-cf', path.join(dir, 'rootfs.tar'), '.']);
      const ref = `${registry.host}/big:1`;
      const imported = await d('import', path.join(dir, 'rootfs.tar'), ref);
      assert.equal(imported.code, 0, imported.stderr);
      const push = await d('push', ref);
      assert.equal(push.code, 0, push.stderr);
      const id = await idOf(engine(), ref);
      await withFreshEngine(async (fresh) => {
        const pull = await docker(fresh, ['pull', ref]);
        assert.equal(pull.code, 0, pull.stderr);
        assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
        assert.equal(await idOf(fresh, ref), id);
        // The file as unpacked in the pulled layer.
        const root = (await docker(fresh, ['inspect', '--format', '{{json .GraphDriver.Data}}', ref])).stdout;
        const upper = JSON.parse(root) as Record<string, string>;
        const layerDir = (upper.UpperDir ?? upper.LowerDir ?? '').split(':')[0]!;
        const got = (await run('sha256sum', [path.join(layerDir, 'data', 'big.bin')])).stdout.split(' ')[0];
        assert.equal(got, sum);
        // It went through the worker (the test engine logs at debug level).
        const diffId = (
          await docker(fresh, ['inspect', '--format', '{{index .RootFS.Layers 0}}', ref])
        ).stdout.trim();
        assert.match(diffId, /^sha256:[0-9a-f]{64}$/);
        assert.ok(
          (await fs.readFile(fresh.logFile, 'utf8')).includes(
            `msg="layer unpacked on a worker thread" diffId="${diffId}"`,
          ),
          'the layer was unpacked on a worker thread',
        );
      });
      await d('rmi', ref);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('pulls by digest, and docker run pulls what is missing', async () => {
    const ref = `${registry.host}/bydigest:1`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    const push = await d('push', ref);
    assert.equal(push.code, 0, push.stderr);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)![1]!;
    const id = await idOf(engine(), ref);
    await withFreshEngine(async (fresh) => {
      const byDigest = `${registry.host}/bydigest@${digest}`;
      const pull = await docker(fresh, ['pull', byDigest]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, new RegExp(`Status: Downloaded newer image for ${byDigest}`));
      assert.equal(await idOf(fresh, byDigest), id);
      const images = await docker(fresh, [
        'images',
        '--digests',
        '--format',
        '{{.Repository}} {{.Tag}} {{.Digest}}',
      ]);
      assert.match(images.stdout, new RegExp(`^${registry.host}/bydigest <none> ${digest}$`, 'm'));
      // `docker run` of an image that is not here: the CLI pulls it (create → 404 → pull → create).
      const run = await docker(fresh, ['run', '--rm', ref, 'echo', 'ran']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'ran\n');
      assert.match(run.stderr, /Unable to find image/);
    });
  });

  it('says "Already exists" for layers the engine has', async () => {
    const base = `${registry.host}/base:1`;
    const derived = `${registry.host}/derived:1`;
    assert.equal((await d('tag', 'busybox', base)).code, 0);
    assert.equal((await d('push', base)).code, 0);
    const c = (await d('run', '-d', 'busybox', 'sh', '-c', 'echo layer > /added')).stdout.trim();
    await d('wait', c);
    assert.equal((await d('commit', c, derived)).code, 0);
    await d('rm', c);
    const push = await d('push', derived);
    assert.equal(push.code, 0, push.stderr);
    assert.match(
      push.stdout,
      /: (Layer already exists|Mounted from base)$/m,
      'the base layer is not sent again',
    );
    await withFreshEngine(async (fresh) => {
      assert.equal((await docker(fresh, ['pull', base])).code, 0);
      const pull = await docker(fresh, ['pull', derived]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, /^[0-9a-f]{12}: Already exists$/m);
      assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
      const run = await docker(fresh, ['run', '--rm', derived, 'cat', '/added']);
      assert.equal(run.stdout, 'layer\n', run.stderr);
    });
  });

  it('chooses the engine platform from a manifest list', async () => {
    // Two real manifests: busybox for this platform, an imported image posing as another platform's.
    const pushed = async (ref: string) => {
      const push = await d('push', ref);
      assert.equal(push.code, 0, push.stderr);
      const m = /digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout)!;
      return { digest: m[1]!, size: Number(m[2]) };
    };
    const ref = `${registry.host}/multi:native`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    const native = await pushed(ref);
    const otherRef = `${registry.host}/multi:other`;
    const imp = await d('import', await layerTar('other platform'), otherRef);
    assert.equal(imp.code, 0, imp.stderr);
    const other = await pushed(otherRef);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const type = 'application/vnd.docker.distribution.manifest.v2+json';
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: type, ...other, platform: { os: 'linux', architecture: 's390x' } },
        { mediaType: type, ...native, platform: { os: 'linux', architecture: arch } },
      ],
    };
    const put = await fetch(`http://${registry.host}/v2/multi/manifests/list`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
      body: JSON.stringify(list),
    });
    assert.equal(put.status, 201, await put.text());
    const listDigest = put.headers.get('docker-content-digest');
    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', `${registry.host}/multi:list`]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, new RegExp(`Digest: ${listDigest}`));
      assert.equal(await idOf(fresh, `${registry.host}/multi:list`), await idOf(engine(), 'busybox'));
      const other = await docker(fresh, [
        'pull',
        '--platform',
        'linux/ppc64le',
        `${registry.host}/multi:list`,
      ]);
      assert.notEqual(other.code, 0);
      assert.match(other.stderr, /no matching manifest for linux\/ppc64le in the manifest list entries/);
      // docker create --platform: the local image is used when it is of that platform…
      const same = await docker(fresh, [
        'create',
        '--platform',
        `linux/${arch}`,
        `${registry.host}/multi:list`,
      ]);
      assert.equal(same.code, 0, same.stderr);
      assert.doesNotMatch(same.stderr, /Unable to find image/);
      // …and a 404 otherwise, so the CLI pulls that platform's image, as with dockerd. Here the
      // "s390x" entry is an image imported on this machine: its config says otherwise, so create refuses it.
      const s390x = await docker(fresh, [
        'create',
        '--platform',
        'linux/s390x',
        `${registry.host}/multi:list`,
      ]);
      assert.notEqual(s390x.code, 0);
      assert.match(s390x.stderr, /Unable to find image '[^']+multi:list' locally/);
      assert.match(
        s390x.stderr,
        new RegExp(
          `image with reference ${registry.host}/multi:list was found but does not match the specified platform: wanted linux/s390x, actual: linux/${arch}`,
        ),
      );
    });
  });

  it('refuses zstd layers with a clear error before downloading anything', async () => {
    const ref = `${registry.host}/zstd:src`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    assert.equal((await d('push', ref)).code, 0);
    const manifest = (await (
      await fetch(`http://${registry.host}/v2/zstd/manifests/src`, {
        headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as {
      config: { digest: string; size: number };
      layers: Array<{ digest: string; size: number }>;
    };
    const oci = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { ...manifest.config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: manifest.layers.map((l) => ({
        ...l,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      })),
    };
    const put = await fetch(`http://${registry.host}/v2/zstd/manifests/z`, {
      method: 'PUT',
      headers: { 'Content-Type': oci.mediaType },
      body: JSON.stringify(oci),
    });
    assert.equal(put.status, 201, await put.text());
    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', `${registry.host}/zstd:z`]);
      assert.notEqual(pull.code, 0, pull.stdout);
      assert.match(pull.stderr, /zstd-compressed layers .*cannot decompress/);
      assert.deepEqual(await storeContents(fresh), { images: 0, layers: 0, tmp: 0 });
    });
  });

  it('shows --insecure-registry entries in docker info', async () => {
    const fresh = await startEngine({ extraArgs: ['--insecure-registry', 'myreg.test:5000'] });
    try {
      const info = await docker(fresh, ['info', '--format', '{{json .RegistryConfig}}']);
      assert.equal(info.code, 0, info.stderr);
      const config = JSON.parse(info.stdout) as {
        InsecureRegistryCIDRs: string[];
        IndexConfigs: Record<string, { Secure: boolean }>;
      };
      assert.ok(config.InsecureRegistryCIDRs.includes('127.0.0.0/8'));
      assert.equal(config.IndexConfigs['myreg.test:5000']?.Secure, false);
    } finally {
      await fresh.cleanup();
    }
  });

  it('a pull the client abandons midway stores nothing', async () => {
    const ref = `${registry.host}/slow:1`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    assert.equal((await d('push', ref)).code, 0);
    // A loopback proxy that serves blobs slowly, so the client can go away mid-download.
    const proxy = http.createServer((req, res) => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: Number(registry.host.split(':')[1]),
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        async (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (!req.url?.includes('/blobs/')) return void up.pipe(res);
          for await (const chunk of up) {
            if (res.destroyed) break;
            res.write(chunk);
            await new Promise((r) => setTimeout(r, 200));
          }
          res.end();
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const slowHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      await withFreshEngine(async (fresh) => {
        const pull = await docker(fresh, ['pull', `${slowHost}/slow:1`], { timeoutMs: 2500 });
        assert.equal(pull.code, 124, `the pull was still running when the client went away: ${pull.stdout}`);
        await eventually(async () => (await storeContents(fresh)).tmp === 0, 10_000, 'the work dir to go');
        assert.deepEqual(await storeContents(fresh), { images: 0, layers: 0, tmp: 0 });
        assert.equal((await docker(fresh, ['images', '-q'])).stdout.trim(), '');
      });
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('fails clearly for an unknown tag and an unknown repository', async () => {
    const tag = await d('pull', `${registry.host}/busybox:nope`);
    assert.notEqual(tag.code, 0);
    assert.match(
      tag.stderr,
      new RegExp(`manifest for ${registry.host}/busybox:nope not found: manifest unknown`),
    );
    const repo = await d('pull', `${registry.host}/nothing/here:1`);
    assert.notEqual(repo.code, 0);
    assert.match(repo.stderr, /not found/);
  });

  it('fails fast, naming the registry, when it cannot be reached', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const pull = await d('pull', `${host}/busybox:latest`);
    const seconds = (Date.now() - started) / 1000;
    assert.notEqual(pull.code, 0);
    assert.match(pull.stderr, new RegExp(`cannot reach the registry ${host}.*connection refused`));
    assert.ok(seconds < 5, `the pull took ${seconds} s`);
    const push = await d('push', `${host}/busybox:latest`);
    assert.notEqual(push.code, 0);
  });

  it('refuses a layer whose content does not match its digest, and stores nothing', async () => {
    // A layer of its own (so no other test's blob is touched), then corrupted in the registry's storage.
    const tarFile = await layerTar('corrupt');
    const ref = `${registry.host}/corrupt:1`;
    const imp = await d('import', tarFile, ref);
    assert.equal(imp.code, 0, imp.stderr);
    const push = await d('push', ref);
    assert.equal(push.code, 0, push.stderr);
    const manifest = (await (
      await fetch(`http://${registry.host}/v2/corrupt/manifests/1`, {
        headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as { layers: Array<{ digest: string }> };
    const blob = registry.blobFile(manifest.layers[0]!.digest);
    const bytes = await fs.readFile(blob);
    bytes[bytes.length - 10] ^= 0xff;
    await fs.writeFile(blob, bytes);
    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', ref]);
      assert.notEqual(pull.code, 0);
      assert.match(
        pull.stderr + pull.stdout,
        /filesystem layer verification failed for digest sha256:[0-9a-f]{64}/,
      );
      assert.equal((await docker(fresh, ['images', '-q'])).stdout.trim(), '');
      assert.deepEqual(await storeContents(fresh), { images: 0, layers: 0, tmp: 0 });
    });
  });
});

describe('registry: htpasswd basic auth, login and logout', () => {
  const engine = useEngineWithBusybox();
  const user = { username: 'berth', password: 's3cret-pass' };
  let registry: TestRegistry;
  let config = '';
  const d = (...args: string[]) => docker(engine(), args, { env: { DOCKER_CONFIG: config } });
  before(async () => {
    registry = await startRegistry({ htpasswd: user });
    config = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-docker-config-'));
  });
  after(async () => {
    await registry?.stop();
    await fs.rm(config, { recursive: true, force: true });
  });

  it('refuses a push without login and a login with a wrong password', async () => {
    const ref = `${registry.host}/private:1`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    const push = await d('push', ref);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr + push.stdout, /no basic auth credentials/);
    const bad = await docker(engine(), ['login', registry.host, '-u', user.username, '--password-stdin'], {
      input: 'wrong\n',
      env: { DOCKER_CONFIG: config },
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /401 Unauthorized/);
  });

  it('logs in, pushes and pulls, and logs out', async () => {
    const login = await docker(engine(), ['login', registry.host, '-u', user.username, '--password-stdin'], {
      input: `${user.password}\n`,
      env: { DOCKER_CONFIG: config },
    });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const stored = JSON.parse(await fs.readFile(path.join(config, 'config.json'), 'utf8')) as {
      auths: Record<string, { auth?: string }>;
    };
    assert.ok(stored.auths[registry.host]?.auth, 'the CLI stored the credentials');

    const ref = `${registry.host}/private:1`;
    assert.equal((await d('tag', 'busybox', ref)).code, 0);
    const push = await d('push', ref);
    assert.equal(push.code, 0, push.stderr);
    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', ref], { env: { DOCKER_CONFIG: config } });
      assert.equal(pull.code, 0, pull.stderr);
      assert.equal(await idOf(fresh, ref), await idOf(engine(), ref));
      const logout = await docker(fresh, ['logout', registry.host], { env: { DOCKER_CONFIG: config } });
      assert.equal(logout.code, 0, logout.stderr);
      assert.equal((await docker(fresh, ['rmi', ref])).code, 0);
      const denied = await docker(fresh, ['pull', ref], { env: { DOCKER_CONFIG: config } });
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /no basic auth credentials/);
    });
  });
});

describe('registry: token auth (a stand-in for Docker Hub auth)', () => {
  const engine = useEngineWithBusybox();
  const user = { username: 'tokenuser', password: 'tokenpass' };
  let tokens: TokenServer;
  let registry: TestRegistry;
  let config = '';
  before(async () => {
    tokens = await startTokenServer(user);
    registry = await startRegistry({ token: tokens });
    config = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-docker-config-'));
  });
  after(async () => {
    await registry?.stop();
    await tokens?.stop();
    await fs.rm(config, { recursive: true, force: true });
  });

  it('pushes with credentials, pulls anonymously, refuses an anonymous push and a bad login', async () => {
    const env = { DOCKER_CONFIG: config };
    const ref = `${registry.host}/team/app:1`;
    assert.equal((await docker(engine(), ['tag', 'busybox', ref])).code, 0);
    const anonymous = await docker(engine(), ['push', ref], { env });
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr + anonymous.stdout, /unauthorized|denied/);

    const bad = await docker(engine(), ['login', registry.host, '-u', user.username, '--password-stdin'], {
      input: 'nope\n',
      env,
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /incorrect username or password/);

    const login = await docker(engine(), ['login', registry.host, '-u', user.username, '--password-stdin'], {
      input: `${user.password}\n`,
      env,
    });
    assert.equal(login.code, 0, login.stderr);
    const push = await docker(engine(), ['push', ref], { env });
    assert.equal(push.code, 0, push.stderr);
    assert.ok(
      tokens.requests.some(
        (r) => r.user === user.username && r.scopes.includes('repository:team/app:pull,push'),
      ),
      `token requests: ${JSON.stringify(tokens.requests)}`,
    );

    await withFreshEngine(async (fresh) => {
      const pull = await docker(fresh, ['pull', ref]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.equal(await idOf(fresh, ref), await idOf(engine(), ref));
      assert.ok(tokens.requests.some((r) => r.user === '' && r.scopes.includes('repository:team/app:pull')));
    });
  });
});
