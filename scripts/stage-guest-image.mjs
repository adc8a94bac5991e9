// `npm run stage-guest-image [-- --arch x86_64|aarch64 ...] [--no-build] [--out DIR]`: puts the guest
// image of each architecture into dist/guest-image/<arch> (electron-builder.yml packs that folder as an
// extra resource; the app boots it from there, see vm/paths.ts bundledImagesDir). Builds it first with
// `berth vm build-image` (a no-op when the cached one is current) unless --no-build; BERTH_CACHE says
// which cache. Copies exactly the files the image's manifest names.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { arch as hostArch, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './bootstrap.mjs';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', multiple: true },
    'no-build': { type: 'boolean' },
    out: { type: 'string' },
  },
});
const arches = values.arch?.length ? values.arch : [hostArch() === 'arm64' ? 'aarch64' : 'x86_64'];
const out = values.out ?? join(repoRoot, 'dist', 'guest-image');
const cache = process.env.BERTH_CACHE || join(process.env.BERTH_HOME || join(homedir(), '.berth'), 'cache');

function fail(message) {
  console.error(`stage-guest-image: ${message}`);
  process.exit(1);
}

for (const arch of arches) {
  if (arch !== 'x86_64' && arch !== 'aarch64') fail(`unknown architecture "${arch}": use x86_64 or aarch64`);
  if (!values['no-build']) {
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'berth'), 'vm', 'build-image', '--arch', arch],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) fail(`berth vm build-image --arch ${arch} failed`);
  }
  const from = join(cache, 'images', arch);
  const manifestFile = join(from, 'manifest.json');
  if (!existsSync(manifestFile))
    fail(
      `no ${arch} image in ${from}: run \`berth vm build-image --arch ${arch}\` (or leave out --no-build)`,
    );
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  const files = ['manifest.json', 'initramfs.img', manifest.kernelFile ?? 'vmlinuz'];
  if (manifest.rootDiskFile) files.push(manifest.rootDiskFile);
  const to = join(out, arch);
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const f of files) {
    if (!existsSync(join(from, f)))
      fail(`${join(from, f)} is missing: rebuild with \`berth vm build-image --force\``);
    copyFileSync(join(from, f), join(to, f));
  }
  console.log(
    `stage-guest-image: ${arch} (${manifest.contentHash.slice(0, 12)}) → ${to}: ${files.join(', ')}`,
  );
}
