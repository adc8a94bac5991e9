// Debian packages for the guest image, through the machine's own apt: versions
// from apt-cache, .debs fetched with `apt-get download` into Berth's cache and
// unpacked with `dpkg -x`. Nothing else is downloaded.
//
// Another architecture's packages (arm64 on an amd64 host) come from the same
// sources (/etc/apt) through a private apt state in the cache: its own package
// lists for that architecture only, so the machine's dpkg is never made
// multi-arch and its own `apt-get update` is never slowed by a second index.
import { existsSync, promises as fs, statSync } from 'node:fs';
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

/** Where apt finds one architecture's packages: the machine's state, or a private one. */
export interface AptSource {
  arch: GuestArch;
  /** `-o` options for apt-get and apt-cache (none: the machine's apt as it is). */
  options: string[];
  /** The private state's lists directory, when there is one. */
  privateLists?: string;
}

/** The machine's package lists, which a private state follows (refreshed when they are newer). */
const MACHINE_LISTS = '/var/lib/apt/lists';

/** The architectures the machine's dpkg installs (its own first). */
async function machineArchs(): Promise<string[]> {
  const own = await exec('dpkg', ['--print-architecture'], { allowFailure: true });
  if (own.exitCode !== 0)
    throw new Error('dpkg is not installed: the guest image is built from Debian packages');
  const foreign = await exec('dpkg', ['--print-foreign-architectures'], { allowFailure: true });
  return [own.stdout.trim(), ...foreign.stdout.split('\n').map((s) => s.trim())].filter(Boolean);
}

/**
 * The apt to use for arch: the machine's when its dpkg has that architecture,
 * else a private state under cache/apt/<arch> whose lists are fetched (from
 * the machine's sources) when missing or older than the machine's own.
 */
export async function aptFor(
  arch: GuestArch,
  cache: string,
  progress: (msg: string) => void = () => {},
): Promise<AptSource> {
  const debArch = debianArch(arch);
  if ((await machineArchs()).includes(debArch)) return { arch, options: [] };
  const root = path.join(cache, 'apt', debArch);
  const lists = path.join(root, 'lists');
  const status = path.join(root, 'status');
  await fs.mkdir(path.join(lists, 'partial'), { recursive: true });
  await fs.mkdir(path.join(root, 'cache', 'archives', 'partial'), { recursive: true });
  if (!existsSync(status)) await fs.writeFile(status, '');
  const options = [
    `APT::Architecture=${debArch}`,
    `APT::Architectures::=${debArch}`, // the list holds this one alone
    `Dir::State::Lists=${lists}`,
    `Dir::State::status=${status}`,
    `Dir::Cache=${path.join(root, 'cache')}`,
    'Acquire::Languages=none',
    // Root may write the cache itself; apt's _apt sandbox user could not.
    'APT::Sandbox::User=root',
  ].flatMap((o) => ['-o', o]);
  const source = { arch, options, privateLists: lists };
  const stamp = path.join(root, 'updated');
  if (!existsSync(stamp) || mtime(stamp) < mtime(MACHINE_LISTS)) await updateLists(source, stamp, progress);
  return source;
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

async function updateLists(apt: AptSource, stamp: string, progress: (msg: string) => void): Promise<void> {
  progress(`fetching the ${debianArch(apt.arch)} package lists (apt-get update)`);
  const r = await exec('apt-get', [...apt.options, '-q', 'update'], { allowFailure: true });
  // apt-get update exits 0 with "W:" or "E:" lines when a source failed: a list may be missing.
  if (r.exitCode !== 0 || /^E: /m.test(r.stderr))
    throw new Error(
      `apt-get update for ${debianArch(apt.arch)} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  await fs.writeFile(stamp, new Date().toISOString() + '\n');
}

/** Dependencies that come with the roots' closure but are not needed in the guest. */
const SKIP = new Set(['libelogind0', 'libdebian-installer4', 'libnewt0.52', 'libslang2', 'libtextwrap1']);

/**
 * The library packages the roots depend on, transitively (names only). Only
 * lib* packages are taken, and Node's own (nodejs, node-*: Debian's Node
 * loads some of its built-in modules from them): the guest's binaries are
 * picked one by one and the libraries they need resolved by soname, so the
 * rest of a closure (perl, debconf, dpkg…) is never wanted.
 */
export async function libraryClosure(roots: string[], apt: AptSource): Promise<string[]> {
  const qualified = roots.map((r) => `${r}:${debianArch(apt.arch)}`);
  const r = await exec('apt-cache', [
    ...apt.options,
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
    if (!/^(lib|zlib|nodejs$|node-)/.test(name) || name.endsWith('-perl') || name.startsWith('libperl'))
      continue;
    if (SKIP.has(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** apt's candidate version and file name for each package. */
export async function candidates(names: string[], apt: AptSource): Promise<DebPackage[]> {
  const r = await exec('apt-cache', [
    ...apt.options,
    'show',
    '--no-all-versions',
    ...names.map((n) => `${n}:${debianArch(apt.arch)}`),
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
      `apt has no candidate for ${missing.join(', ')} (${debianArch(apt.arch)}); run apt-get update`,
    );
  return names.map((n) => out.get(n)!);
}

/** The concrete kernel package a meta package (linux-image-amd64) points at. */
export async function kernelPackageOf(meta: string, apt: AptSource): Promise<string> {
  const r = await exec('apt-cache', [...apt.options, 'depends', `${meta}:${debianArch(apt.arch)}`]);
  const dep = /Depends: (linux-image-[0-9][^\s:]*)/.exec(r.stdout)?.[1];
  if (!dep) throw new Error(`cannot tell which kernel ${meta} depends on`);
  return dep;
}

/** Fetches the packages missing from dir; calls progress for each batch fetched. */
export async function download(
  pkgs: DebPackage[],
  apt: AptSource,
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
        ...(apt.options.length ? apt.options : ['-o', 'APT::Sandbox::User=root']),
        'download',
        ...batch.map((p) => `${p.name}:${debianArch(apt.arch)}=${p.version}`),
      ],
      { cwd: dir },
    );
  }
}

export async function extract(deb: string, into: string): Promise<void> {
  await exec('dpkg', ['-x', deb, into]);
}
