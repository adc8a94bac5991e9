// A registry that lies: wrong digests, wrong sizes, redirect loops, endless
// bodies, a manifest list that points at itself. Every pull is refused with a
// clear message, in bounded time, with the engine's memory bounded, and
// nothing of it is stored. The liar is a tiny node:http server on loopback,
// standing in for a hostile registry out there.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { pack as tarPack } from 'tar-stream';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordFigures } from './figures.js';

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layer(): Promise<Buffer> {
  const p = tarPack();
  p.entry({ name: 'hello', mode: 0o644 }, 'from the liar\n');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

/** An honest image, from which each lie departs. */
async function honestImage() {
  const layerGz = await layer();
  const diffId = sha(gunzipSync(layerGz));
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: { Cmd: ['cat', '/hello'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: sha(config),
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: layerGz.length,
          digest: sha(layerGz),
        },
      ],
    }),
  );
  return { layerGz, config, manifest };
}

/** Streams filler until the client goes away. */
function endless(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

describe('a lying registry', () => {
  const engine = useEngineWithBusybox();
  let server: http.Server;
  let host = '';
  let refused = 0;
  let worstMs = 0;
  let worstGrowth = 0;
  let img: Awaited<ReturnType<typeof honestImage>>;

  before(async () => {
    img = await honestImage();
    const selfListDigest = { value: '' };
    server = http.createServer((req, res) => {
      const m = /^\/v2\/([a-z-]+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
      if (req.url === '/v2/' || !m) {
        res.writeHead(req.url === '/v2/' ? 200 : 404, { 'Content-Type': 'application/json' }).end('{}');
        return;
      }
      const [, lie, kind, ref] = m;
      const sendManifest = (body: Buffer, type = MANIFEST) =>
        res
          .writeHead(200, {
            'Content-Type': type,
            'Docker-Content-Digest': sha(body),
            'Content-Length': body.length,
          })
          .end(body);
      if (kind === 'manifests') {
        if (lie === 'endless-manifest') {
          res.writeHead(200, { 'Content-Type': MANIFEST });
          return endless(res);
        }
        if (lie === 'wrong-manifest') {
          // Asked by digest, answers with another manifest.
          return sendManifest(
            Buffer.from(img.manifest.toString().replace('"schemaVersion":2', '"schemaVersion": 2')),
          );
        }
        if (lie === 'garbage-manifest') return sendManifest(Buffer.from('\u0000{not json'));
        if (lie === 'self-list') {
          const list = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: LIST,
              manifests: [
                {
                  mediaType: LIST,
                  size: 300,
                  digest: selfListDigest.value || sha('x'),
                  platform: { architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux' },
                },
              ],
            }),
          );
          selfListDigest.value = sha(list);
          return sendManifest(list, LIST);
        }
        return sendManifest(img.manifest);
      }
      const isConfig = ref === sha(img.config);
      if (isConfig) {
        if (lie === 'wrong-config')
          return res.writeHead(200).end(Buffer.from(img.config.toString().replace('cat', 'rm')));
        if (lie === 'endless-config') {
          res.writeHead(200);
          return endless(res);
        }
        return res.writeHead(200, { 'Content-Length': img.config.length }).end(img.config);
      }
      switch (lie) {
        case 'wrong-layer': {
          const bad = Buffer.from(img.layerGz);
          bad[bad.length - 5] ^= 0xff;
          return res.writeHead(200, { 'Content-Length': bad.length }).end(bad);
        }
        case 'short-layer':
          return res.writeHead(200).end(img.layerGz.subarray(0, img.layerGz.length - 7));
        case 'endless-layer':
          res.writeHead(200);
          return endless(res);
        case 'lying-length':
          // Declares a huge length, sends the right bytes and then hangs up.
          res.writeHead(200, { 'Content-Length': 10 ** 12 });
          res.write(img.layerGz);
          return void setTimeout(() => res.destroy(), 100);
        case 'redirect-loop':
          return res.writeHead(307, { Location: req.url }).end();
        case 'redirect-ping-pong':
          return res
            .writeHead(302, { Location: req.url!.includes('?') ? req.url!.split('?')[0] : `${req.url}?b` })
            .end();
        default:
          return res.writeHead(200, { 'Content-Length': img.layerGz.length }).end(img.layerGz);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await recordFigures('lying-registry', {
      liesRefused: refused,
      worstRefusalMs: Math.round(worstMs),
      worstRssGrowthMB: worstGrowth,
    });
  });

  const rss = async () => {
    const status = await fs.readFile(`/proc/${engine().pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  };

  const cases: Array<[string, RegExp, string?]> = [
    // Refused by its digest, or, where layers are unpacked as they arrive, by the corrupt data itself.
    [
      'wrong-layer',
      /filesystem layer verification failed for digest sha256:|not a valid tar archive: incorrect data check/,
    ],
    [
      'short-layer',
      /filesystem layer verification failed for digest sha256:|not a valid tar archive|unexpected end/,
    ],
    ['endless-layer', /more than the \d+ bytes the manifest declares/],
    ['lying-length', /closed the connection in the middle of the response/],
    ['wrong-config', /image config verification failed/],
    ['endless-config', /the image config from [\d.:]+ is too large/],
    ['endless-manifest', /the manifest latest from [\d.:]+ is too large/],
    ['garbage-manifest', /the manifest of .* is not valid JSON/],
    ['self-list', /manifest list/],
    ['redirect-loop', /redirected more than 5 times/],
    ['redirect-ping-pong', /redirected more than 5 times/],
    ['wrong-manifest', /manifest verification failed for digest/, `@${'sha256:' + 'ab'.repeat(32)}`],
  ];

  for (const [lie, message, suffix] of cases) {
    it(`refuses ${lie}, quickly, storing nothing`, async (t) => {
      const before = await rss();
      const t0 = performance.now();
      const ref = `${host}/${lie}${suffix ?? ':latest'}`;
      const pull = await docker(engine(), ['pull', ref], { timeoutMs: 60_000 });
      const ms = performance.now() - t0;
      worstMs = Math.max(worstMs, ms);
      assert.notEqual(pull.code, 0, `pull of ${lie} succeeded:\n${pull.stdout}`);
      assert.notEqual(pull.code, 124, `pull of ${lie} timed out`);
      assert.match(pull.stderr + pull.stdout, message);
      t.diagnostic(`${lie}: ${pull.stderr.trim().split('\n').pop()}`);
      assert.ok(ms < 30_000, `refused after ${Math.round(ms)} ms`);
      const growth = (await rss()) - before;
      worstGrowth = Math.max(worstGrowth, Math.round(growth));
      assert.ok(growth < 100, `the engine grew by ${Math.round(growth)} MB`);
      const images = (await docker(engine(), ['images', '--format', '{{.Repository}}'])).stdout;
      assert.doesNotMatch(images, new RegExp(lie));
      assert.deepEqual(
        await fs.readdir(path.join(engine().dataRoot, 'image', 'tmp')),
        [],
        'no work dir is left',
      );
      refused++;
    });
  }

  it('still pulls from the same server when it tells the truth', async () => {
    const pull = await docker(engine(), ['pull', `${host}/honest:latest`]);
    assert.equal(pull.code, 0, pull.stderr);
    const c = (await docker(engine(), ['create', `${host}/honest`])).stdout.trim();
    const r = await docker(engine(), ['cp', `${c}:/hello`, '-']);
    assert.match(r.stdout, /from the liar\n/, r.stderr);
    await docker(engine(), ['rm', c]);
  });
});
