// Malicious build contexts and image archives, beyond the escapes that
// test/engine/images.test.ts, build.test.ts and the storage unit tests already
// refuse: symlinks and hardlinks in a build context that lead to host files,
// ADD of a local tar that escapes, absolute context entries, device nodes in a
// context and in an image layer, a truncated tar that claims a huge file, and
// gzip bombs. Each is refused or contained: nothing of the host is read or
// written, and the engine's memory stays bounded.
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { buildLayerTar, writeDockerArchive, type LayerEntry } from '../fixtures/docker-archive.js';
import { recordFigures } from './figures.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { run } from '../../guest-agent/util/subprocess.js';

const CLASSIC = { DOCKER_BUILDKIT: '0' };
const SECRET = `host-secret-${Math.random().toString(36).slice(2)}`;

/** busybox's layers, from its fixture archive: a base with a shell for hand-made images. */
async function busyboxLayers(dir: string): Promise<Buffer[]> {
  const out = path.join(dir, 'busybox-archive');
  await fs.mkdir(out, { recursive: true });
  await run('tar', ['-xf', await busyboxArchive(), '-C', out]);
  const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8')) as Array<{
    Layers: string[];
  }>;
  return Promise.all(manifest[0].Layers.map((l) => fs.readFile(path.join(out, l))));
}

describe('malicious archives', () => {
  const engine = useEngineWithBusybox();
  let tmp = '';
  let secretDir = '';
  let refused = 0;
  let contained = 0;
  let worstRssGrowthMB = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-malicious-'));
    secretDir = path.join(tmp, 'host');
    await fs.mkdir(secretDir);
    await fs.writeFile(path.join(secretDir, 'secret'), SECRET);
  });
  after(async () => {
    await recordFigures('malicious-archives', { refused, contained, worstRssGrowthMB });
    await docker(engine(), ['system', 'prune', '-af']);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const rssMB = async () =>
    Number(/VmRSS:\s+(\d+)/.exec(await fs.readFile(`/proc/${engine().pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

  /** Runs fn while sampling the engine's memory; returns fn's result and the growth over the start, in MB. */
  async function watchingMemory<T>(fn: () => Promise<T>): Promise<[T, number]> {
    const start = await rssMB();
    let peak = start;
    const timer = setInterval(() => void rssMB().then((m) => (peak = Math.max(peak, m))), 50);
    try {
      const result = await fn();
      return [result, Math.round(peak - start)];
    } finally {
      clearInterval(timer);
    }
  }

  const build = (tag: string, context: Buffer) =>
    docker(engine(), ['build', '-q', '-t', tag, '-'], { input: context, env: CLASSIC, timeoutMs: 180_000 });
  const runIn = (image: string, script: string, ...args: string[]) =>
    docker(engine(), ['run', '--rm', ...args, image, 'sh', '-c', script]);
  const context = (dockerfile: string, entries: LayerEntry[]) =>
    buildLayerTar([{ name: 'Dockerfile', content: dockerfile }, ...entries]);

  /** A build either fails, or its image holds nothing of the host. */
  async function refusedOrContained(
    label: string,
    r: { code: number; stderr: string },
    image: string,
    look: string,
  ) {
    if (r.code !== 0) {
      refused++;
      assert.match(r.stderr, /\S/, `${label}: refused with a message`);
      return;
    }
    const inside = await runIn(image, look);
    assert.doesNotMatch(inside.stdout, new RegExp(SECRET), `${label}: the image holds the host's secret`);
    contained++;
  }

  it('a context symlink to a host directory is followed inside the context only', async () => {
    const r = await build(
      'evil-symlink',
      await context('FROM busybox\nCOPY link/secret /stolen\n', [
        { name: 'link', type: 'symlink', linkname: secretDir },
      ]),
    );
    await refusedOrContained('symlink', r, 'evil-symlink', 'cat /stolen 2>/dev/null');
  });

  it('a context hardlink to a host file is refused', async () => {
    const r = await build(
      'evil-hardlink',
      await context('FROM busybox\nCOPY stolen /stolen\n', [
        { name: 'stolen', type: 'link', linkname: `../../../../../../..${secretDir}/secret` },
      ]),
    );
    await refusedOrContained('hardlink', r, 'evil-hardlink', 'cat /stolen 2>/dev/null');
  });

  it('absolute and ../ entries in a context write nothing on the host', async () => {
    const r = await build(
      'evil-absolute',
      await context('FROM busybox\nCOPY . /ctx/\n', [
        { name: `${tmp.slice(1)}/../${path.basename(tmp)}/evil-abs`, content: 'x' },
        { name: `/${tmp.slice(1)}/evil-abs2`, content: 'x' },
        { name: `../../../..${tmp}/evil-dotdot`, content: 'x' },
      ]),
    );
    for (const f of ['evil-abs', 'evil-abs2', 'evil-dotdot'])
      assert.equal(existsSync(path.join(tmp, f)), false, `${f} was written on the host`);
    if (r.code !== 0) refused++;
    else contained++;
  });

  it('ADD of a local tar that escapes is refused or lands inside the image', async () => {
    const inner = await buildLayerTar([
      { name: `../../../../../../..${tmp}/evil-add-dotdot`, content: 'x' },
      { name: `${tmp}/evil-add-abs`, content: 'x' },
      { name: 's', type: 'symlink', linkname: tmp },
      { name: 's/evil-add-symlink', content: 'x' },
      { name: 'h', type: 'link', linkname: `../../../../../../..${secretDir}/secret` },
    ]);
    const r = await build(
      'evil-add',
      await context('FROM busybox\nADD inner.tar /x/\n', [{ name: 'inner.tar', content: inner }]),
    );
    for (const f of ['evil-add-dotdot', 'evil-add-abs', 'evil-add-symlink'])
      assert.equal(existsSync(path.join(tmp, f)), false, `${f} was written on the host`);
    await refusedOrContained(
      'ADD',
      r,
      'evil-add',
      'cat /x/h /x/s/* 2>/dev/null; find / -xdev -name "evil-add*" 2>/dev/null',
    );
  });

  it("a device node for the host's disk, in a context or a layer, cannot be opened in a container", async (t) => {
    const root = await fs.stat('/');
    const [major, minor] = [
      Math.floor(root.dev / 256) & 0xfff,
      (root.dev & 0xff) | ((root.dev >> 12) & 0xfff00),
    ];
    const disk: LayerEntry = {
      name: 'hostdisk',
      type: 'block-device',
      devmajor: major,
      devminor: minor,
      mode: 0o666,
    };
    const viaBuild = await build(
      'evil-device',
      await context('FROM busybox\nCOPY hostdisk /hostdisk\n', [disk]),
    );
    const archive = path.join(tmp, 'device.tar');
    await writeDockerArchive(archive, {
      repoTags: ['evil-device-layer:1'],
      layers: [...(await busyboxLayers(tmp)), await buildLayerTar([disk])],
    });
    const load = await docker(engine(), ['load', '-i', archive]);
    for (const [label, result, image] of [
      ['context', viaBuild, 'evil-device'],
      ['layer', load, 'evil-device-layer:1'],
    ] as const) {
      if (result.code !== 0) {
        t.diagnostic(`${label}: refused: ${result.stderr.trim()}`);
        refused++;
        continue;
      }
      const r = await runIn(image, 'head -c 512 /hostdisk > /tmp/read; echo rc=$?; wc -c < /tmp/read');
      assert.match(r.stdout, /rc=[1-9]\n0\n/, `${label}: the host's disk was read: ${r.stdout} ${r.stderr}`);
      // Refused by the device cgroup, or never made (the build leaves device nodes out).
      assert.match(r.stderr, /Operation not permitted|No such file/, `${label}: ${r.stderr}`);
      t.diagnostic(`${label}: contained: ${r.stderr.trim()}`);
      contained++;
    }
    // However the node gets there (mknod is among Docker's default capabilities), the device cgroup refuses it.
    const made = await runIn(
      'busybox',
      `mknod /tmp/hostdisk b ${major} ${minor} && head -c 512 /tmp/hostdisk | wc -c`,
    );
    assert.match(made.stderr, /Operation not permitted/, made.stderr);
    assert.match(made.stdout, /^0$/m);
  });

  it('a tar whose header claims a huge file but ends early is refused without filling the disk', async () => {
    const tar = Buffer.from(
      await context('FROM busybox\nCOPY big /big\n', [{ name: 'big', content: 'x'.repeat(1024) }]),
    );
    // The size field of big's header (12 bytes at 124) made to say 8 GiB; 1 kB of data follows, then the end.
    let at = 0;
    while (tar.subarray(at, at + 4).toString('latin1') !== 'big\0') at += 512;
    tar.write('77777777777\0', at + 124, 12, 'latin1');
    tar.fill(' ', at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += tar[i];
    tar.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 8, 'latin1');
    const [r, growth] = await watchingMemory(() => build('evil-truncated', tar));
    worstRssGrowthMB = Math.max(worstRssGrowthMB, growth);
    assert.notEqual(r.code, 0, 'a truncated context is refused');
    assert.match(r.stderr, /\S/);
    refused++;
  });

  it('gzip bombs (a context and an image archive of 128 MB of zeros) are streamed with bounded memory', async () => {
    const zeros = Buffer.alloc(128 << 20);
    const ctx = gzipSync(
      await context('FROM busybox\nCOPY zeros /zeros\n', [{ name: 'zeros', content: zeros }]),
    );
    const [b, g1] = await watchingMemory(() => build('bomb-context', ctx));
    worstRssGrowthMB = Math.max(worstRssGrowthMB, g1);
    assert.ok(g1 < 200, `the engine grew by ${g1} MB on a ${ctx.length >> 10} kB context`);
    if (b.code === 0) {
      assert.equal((await runIn('bomb-context', 'wc -c < /zeros')).stdout.trim(), String(128 << 20));
      await docker(engine(), ['rmi', 'bomb-context']);
    }
    contained++;
    const archive = path.join(tmp, 'bomb.tar');
    await writeDockerArchive(archive, {
      repoTags: ['bomb-image:1'],
      layers: [await buildLayerTar([{ name: 'zeros', content: zeros }])],
    });
    const gz = gzipSync(await fs.readFile(archive));
    const [l, g2] = await watchingMemory(() => docker(engine(), ['load'], { input: gz }));
    worstRssGrowthMB = Math.max(worstRssGrowthMB, g2);
    assert.ok(g2 < 200, `the engine grew by ${g2} MB loading a ${gz.length >> 10} kB archive`);
    assert.equal(l.code, 0, l.stderr);
    await docker(engine(), ['rmi', 'bomb-image:1']);
    contained++;
  });
});
