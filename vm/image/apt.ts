// Debian packages for the guest image, through the machine's own apt: versions
// from apt-cache, .debs fetched with `apt-get download` into Berth's cache and
// unpacked with `dpkg -x`. Nothing else is downloaded.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { GuestArch } from '../paths.js';
import { exec } from '../util/exec.js';

export function debianArch(arch: GuestArch): string {
  return arch === 'aarch64' ? 'arm64' : 'amd64';
}

export interface DebPackage {
  name: string;
  version: string;
  /** The file name apt-get download writes (":" in an epoch becomes "%3a"). */
  file: string;
}

/** Dependencies that come with the roots' closure but are not needed in the guest. */
const SKIP = new Set(['libelogind0', 'libdebian-installer4', 'libnewt0.52', 'libslang2', 'libtextwrap1']);

/**
 * The library packages the roots depend on, transitively (names only). Only
 * lib* packages are taken: the guest's binaries are picked one by one and the
 * libraries they need resolved by soname, so the rest of a closure (perl,
 * debconf, dpkg…) is never wanted.
 */
export async function libraryClosure(roots: string[], arch: GuestArch): Promise<string[]> {
  const qualified = roots.map((r) => `${r}:${debianArch(arch)}`);
  const r = await exec('apt-cache', [
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    ...qualified,
  ]);
  const names = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    if (!line || line.startsWith(' ') || line.includes('<')) continue;
    const name = line.split(':')[0];
    if (!/^(lib|zlib)/.test(name) || name.endsWith('-perl') || name.startsWith('libperl') || SKIP.has(name))
      continue;
    names.add(name);
  }
  return [...names].sort();
}

/** apt's candidate version and file name for each package. */
export async function candidates(names: string[], arch: GuestArch): Promise<DebPackage[]> {
  const r = await exec('apt-cache', [
    'show',
    '--no-all-versions',
    ...names.map((n) => `${n}:${debianArch(arch)}`),
  ]);
  const out = new Map<string, DebPackage>();
  for (const stanza of r.stdout.split(/\n\n+/)) {
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(stanza)?.[1];
    const name = field('Package');
    const version = field('Version');
    const debArch = field('Architecture');
    if (!name || !version || !debArch || out.has(name)) continue;
    out.set(name, { name, version, file: `${name}_${version.replace(':', '%3a')}_${debArch}.deb` });
  }
  const missing = names.filter((n) => !out.has(n));
  if (missing.length)
    throw new Error(
      `apt has no candidate for ${missing.join(', ')} (${debianArch(arch)}); run apt-get update`,
    );
  return names.map((n) => out.get(n)!);
}

/** The concrete kernel package a meta package (linux-image-amd64) points at. */
export async function kernelPackageOf(meta: string, arch: GuestArch): Promise<string> {
  const r = await exec('apt-cache', ['depends', `${meta}:${debianArch(arch)}`]);
  const dep = /Depends: (linux-image-[0-9][^\s:]*)/.exec(r.stdout)?.[1];
  if (!dep) throw new Error(`cannot tell which kernel ${meta} depends on`);
  return dep;
}

/** Fetches the packages missing from dir; calls progress for each one fetched. */
export async function download(
  pkgs: DebPackage[],
  arch: GuestArch,
  dir: string,
  progress: (msg: string) => void,
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const missing = pkgs.filter((p) => !existsSync(path.join(dir, p.file)));
  // A few at a time: one line of progress per batch, and apt overlaps the downloads.
  for (let i = 0; i < missing.length; i += 8) {
    const batch = missing.slice(i, i + 8);
    progress(`downloading ${batch.map((p) => p.name).join(' ')} (${i + batch.length}/${missing.length})`);
    await exec(
      'apt-get',
      [
        '-o',
        'APT::Sandbox::User=root',
        'download',
        ...batch.map((p) => `${p.name}:${debianArch(arch)}=${p.version}`),
      ],
      { cwd: dir },
    );
  }
}

export async function extract(deb: string, into: string): Promise<void> {
  await exec('dpkg', ['-x', deb, into]);
}
