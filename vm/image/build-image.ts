// `berth vm build-image`: the guest's kernel and initramfs, from Debian
// packages (the machine's apt) plus the engine bundle, for the host's
// architecture or another one (aarch64 built on an x86_64 host). The result,
// with a manifest of what went in, lands in the cache; when nothing that goes
// in has changed, a rebuild is a no-op.
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { berthCache, bundledImagesDir, hostArch, imageDir, type GuestArch } from '../paths.js';
import { writeFileAtomic, readJson } from '../../common/atomic-file.js';
import { exec } from '../util/exec.js';
import {
  aptFor,
  candidates,
  debianArch,
  download,
  extract,
  kernelPackageOf,
  libraryClosure,
  type AptSource,
  type DebPackage,
} from './apt.js';
import {
  BOOT_MODULES,
  EXTRA_MODULES,
  IMAGE_LAYOUT_VERSION,
  USERLAND_BINARIES,
  USERLAND_LINKS,
  USERLAND_PACKAGES,
  kernelMetaPackage,
  userlandDirs,
} from './contents.js';
import { writeCpioGz } from './cpio.js';
import { extractPvhKernel } from './pvh-kernel.js';
import { elfDeps } from './elf.js';
import { buildNodePty, buildTerminalAddon, compilerVersion, crossCompiler } from './native-addons.js';
import { TERMINAL_ADDON_OUT, TERMINAL_ADDON_SOURCE } from '../../scripts/native-addon.mjs';
import { repoRoot } from './repo-root.js';

export interface ImageManifest {
  arch: GuestArch;
  layoutVersion: number;
  kernelVersion: string;
  packages: Record<string, string>;
  node: { version: string; source: string };
  /** Hash of everything that goes in: equal keys mean a rebuild would give the same image. */
  inputKey: string;
  /** sha256 over the kernel, the initramfs and the root disk as built. */
  contentHash: string;
  initramfsBytes: number;
  /** The kernel QEMU boots: vmlinux (x86_64, PVH entry), Image (aarch64, uncompressed) or vmlinuz. */
  kernelFile?: string;
  /** The read-only root disk (ext4) the initramfs mounts under a tmpfs overlay. */
  rootDiskFile?: string;
  rootDiskBytes?: number;
  builtAt: string;
}

export interface GuestImage {
  dir: string;
  kernel: string;
  initramfs: string;
  rootDisk?: string;
  manifest: ImageManifest;
}

export interface BuildOptions {
  arch?: GuestArch;
  cache?: string;
  /** One line per step; default: nothing. */
  progress?: (msg: string) => void;
  /** Rebuild even when the inputs have not changed. */
  force?: boolean;
}

/** The agent's files in the image, relative to the repository: bundles and launcher. */
const AGENT_FILES = [
  'dist/berth-engine.mjs',
  'dist/berth-stage-layer.mjs',
  'dist/berth-guest-control.mjs',
  'bin/berth-engine',
];
/** The host's build of Berth's terminal addon: the guest's when they share a CPU, else built from its source. */
const TERMINAL_ADDON_FILES = [TERMINAL_ADDON_OUT];
/** npm packages the bundles load at run time (kept external by scripts/build.mjs). */
const AGENT_MODULES = ['node-pty', 'ssh2'];
const GUEST_INIT = ['guest-agent/init/stage1.sh', 'guest-agent/init/berth-init.sh'];
/** What node-pty's cross-built addon is made of (vm/image/native-addons.ts). */
const NODE_PTY_SOURCES = [
  'node_modules/node-pty/src/unix/pty.cc',
  'node_modules/node-addon-api/napi.h',
  'node_modules/node-addon-api/napi-inl.h',
];

function imagePaths(dir: string) {
  return {
    kernel: path.join(dir, 'vmlinuz'),
    pvhKernel: path.join(dir, 'vmlinux'),
    arm64Image: path.join(dir, 'Image'),
    initramfs: path.join(dir, 'initramfs.img'),
    rootDisk: path.join(dir, 'root.img'),
    manifest: path.join(dir, 'manifest.json'),
  };
}

/** Modules the first stage loads to mount the root disk (all in BOOT_MODULES too). */
const STAGE1_MODULES = ['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4', 'overlay'];

/**
 * The image a VM boots: the one shipped with the desktop app when this runs inside it
 * (bundledImagesDir), else the one built into the cache (whatever its inputs).
 */
export async function findImage(
  arch: GuestArch = hostArch(),
  cache = berthCache(),
): Promise<GuestImage | undefined> {
  const bundled = bundledImagesDir();
  return (bundled && (await readImageAt(path.join(bundled, arch)))) || readImageAt(imageDir(arch, cache));
}

/** The image in one directory, if a whole one is there. */
export async function readImageAt(dir: string): Promise<GuestImage | undefined> {
  const p = imagePaths(dir);
  const manifest = await readJson<ImageManifest>(p.manifest, { ignoreCorrupt: true });
  if (!manifest) return undefined;
  const kernel = path.join(dir, manifest.kernelFile ?? 'vmlinuz');
  const rootDisk = manifest.rootDiskFile ? path.join(dir, manifest.rootDiskFile) : undefined;
  if (!existsSync(kernel) || !existsSync(p.initramfs) || (rootDisk && !existsSync(rootDisk)))
    return undefined;
  return { dir, kernel, initramfs: p.initramfs, rootDisk, manifest };
}

async function hashFiles(hash: ReturnType<typeof createHash>, files: string[]): Promise<void> {
  for (const f of files) {
    hash.update(`\0${path.relative(repoRoot(), f)}\0`);
    hash.update(await fs.readFile(f));
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * The node_modules files the agent needs: each package and its dependencies,
 * without sources or build leftovers. For a guest of another architecture
 * the host's compiled addons are left out: node-pty's is cross-built
 * (native-addons.ts), and ssh2 runs without its optional sshcrypto binding
 * (it then uses Node's own crypto, with fewer ciphers to offer).
 */
async function agentModuleFiles(arch: GuestArch): Promise<string[]> {
  const native = arch === hostArch();
  const root = path.join(repoRoot(), 'node_modules');
  const seen = new Set<string>();
  const files: string[] = [];
  const visit = async (name: string): Promise<void> => {
    if (seen.has(name)) return;
    seen.add(name);
    const dir = path.join(root, name);
    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    if (name === 'node-pty') {
      // Only what loads at run time: the JS and the addon built for this Node.
      files.push(path.join(dir, 'package.json'));
      files.push(...(await listFiles(path.join(dir, 'lib'))).filter((f) => !f.endsWith('.test.js')));
      if (native)
        files.push(
          ...(await listFiles(path.join(dir, 'build', 'Release'))).filter((f) => f.endsWith('.node')),
        );
      return;
    }
    files.push(
      ...(await listFiles(dir)).filter(
        (f) => native || !path.relative(dir, f).split(path.sep).includes('build'),
      ),
    );
    for (const dep of Object.keys(pkg.dependencies ?? {})) await visit(dep);
  };
  for (const m of AGENT_MODULES) await visit(m);
  return files;
}

interface NodeRuntime {
  version: string;
  source: string;
  /** The package to download, when apt has this exact version. */
  deb?: DebPackage;
  /** Otherwise the installed binary. */
  installedBinary?: string;
}

/**
 * The Node the agent runs on. For the host's architecture it must be the one
 * the native addons in node_modules were built for: the machine's own
 * `nodejs` package. apt gives its .deb when the repository it came from is
 * configured; when not (it may be disabled here), the installed package's
 * binary is used as is. For another architecture it is that architecture's
 * Debian `nodejs`, among the packages (pkgs), and the addons are cross-built
 * for it.
 */
async function nodeRuntime(arch: GuestArch, apt: AptSource, pkgs: DebPackage[]): Promise<NodeRuntime> {
  if (arch !== hostArch()) {
    const deb = pkgs.find((p) => p.name === 'nodejs');
    if (!deb) throw new Error(`no nodejs package for ${debianArch(arch)}`);
    return { version: deb.version, source: `apt (${debianArch(arch)})` };
  }
  const q = await exec('dpkg-query', ['-W', '-f=${Version}', 'nodejs'], { allowFailure: true });
  const version = q.stdout.trim();
  if (q.exitCode !== 0 || !version)
    throw new Error('the nodejs Debian package is not installed on this machine');
  const major = /^(\d+)\./.exec(version)?.[1];
  if (major !== process.versions.node.split('.')[0])
    throw new Error(`nodejs ${version} is not the Node this runs on (${process.version})`);
  const show = await exec('apt-cache', ['show', `nodejs=${version}`], { allowFailure: true });
  if (show.exitCode === 0 && /^Filename: /m.test(show.stdout)) {
    const [deb] = await candidates(['nodejs'], apt).catch(() => [undefined]);
    if (deb && deb.version === version) return { version, source: 'apt', deb };
  }
  const bin = (await exec('dpkg', ['-L', 'nodejs'])).stdout.split('\n').find((l) => l === '/usr/bin/node');
  if (!bin) throw new Error('the installed nodejs package has no /usr/bin/node');
  return {
    version,
    source: 'installed package (its apt repository is not configured)',
    installedBinary: bin,
  };
}

/** Builds the image unless the cached one has the same inputs. */
export async function buildImage(opts: BuildOptions = {}): Promise<GuestImage & { rebuilt: boolean }> {
  const arch = opts.arch ?? hostArch();
  const cache = opts.cache ?? berthCache();
  const progress = opts.progress ?? (() => {});
  const outDir = imageDir(arch, cache);
  const out = imagePaths(outDir);
  // Another architecture's guest: its Debian Node, and node-pty cross-built against that Node's headers.
  const foreign = arch !== hostArch();
  const compiler = foreign ? crossCompiler(arch) : undefined;
  const cCompiler = foreign ? crossCompiler(arch, 'gcc') : undefined;

  const apt = await aptFor(arch, cache, progress);
  progress(`resolving packages (${debianArch(arch)})`);
  const kernelPkg = await kernelPackageOf(kernelMetaPackage(arch), apt);
  const libs = await libraryClosure(foreign ? [...USERLAND_PACKAGES, 'nodejs'] : USERLAND_PACKAGES, apt);
  const names = [
    ...new Set([kernelPkg, ...USERLAND_PACKAGES, ...libs, ...(foreign ? ['libnode-dev'] : [])]),
  ].sort();
  const pkgs = await candidates(names, apt);
  const node = await nodeRuntime(arch, apt, pkgs);
  const agentFiles = [
    ...[...AGENT_FILES, ...(foreign ? [] : TERMINAL_ADDON_FILES)].map((f) => path.join(repoRoot(), f)),
    ...(await agentModuleFiles(arch)),
    ...GUEST_INIT.map((f) => path.join(repoRoot(), f)),
  ];
  const addonSources = foreign
    ? [...NODE_PTY_SOURCES, TERMINAL_ADDON_SOURCE].map((f) => path.join(repoRoot(), f))
    : [];
  for (const f of [...agentFiles, ...addonSources]) {
    if (!existsSync(f))
      throw new Error(`${path.relative(repoRoot(), f)} is missing: run \`npm run build\` first`);
  }

  const key = createHash('sha256');
  key.update(
    JSON.stringify({
      arch,
      IMAGE_LAYOUT_VERSION,
      USERLAND_BINARIES,
      USERLAND_LINKS,
      BOOT_MODULES,
      EXTRA_MODULES,
    }),
  );
  key.update(JSON.stringify(pkgs.map((p) => `${p.name}=${p.version}`)));
  key.update(`node ${node.version} ${node.source}`);
  if (node.installedBinary) key.update(await fs.readFile(node.installedBinary));
  await hashFiles(key, agentFiles);
  if (compiler && cCompiler) {
    key.update(await compilerVersion(compiler));
    key.update(await compilerVersion(cCompiler));
    await hashFiles(key, addonSources);
  }
  const inputKey = key.digest('hex');

  const existing = await readImageAt(imageDir(arch, cache));
  if (!opts.force && existing?.manifest.inputKey === inputKey) {
    progress(`image up to date (${existing.manifest.contentHash.slice(0, 12)})`);
    return { ...existing, rebuilt: false };
  }

  const debDir = path.join(cache, 'debs', debianArch(arch));
  await download(node.deb ? [...pkgs, node.deb] : pkgs, apt, debDir, progress);

  const work = await fs.mkdtemp(path.join(cache, `build-${arch}-`));
  try {
    const sysroot = path.join(work, 'sysroot');
    const stage = path.join(work, 'stage');
    await fs.mkdir(sysroot, { recursive: true });
    await fs.mkdir(stage, { recursive: true });
    let n = 0;
    for (const p of node.deb ? [...pkgs, node.deb] : pkgs) {
      n++;
      if (n % 10 === 1) progress(`unpacking packages (${n}/${pkgs.length})`);
      await extract(path.join(debDir, p.file), sysroot);
    }

    progress('kernel and modules');
    const kernelVersion = kernelPkg.replace(/^linux-image-/, '');
    await fs.copyFile(path.join(sysroot, 'boot', `vmlinuz-${kernelVersion}`), path.join(work, 'vmlinuz'));
    if (arch === 'aarch64') {
      // QEMU boots an arm64 Image directly (no firmware). Debian 12's vmlinuz is
      // that Image as it is; a gzip'd one (other releases) is unpacked once here
      // rather than by QEMU at every boot.
      const data = await fs.readFile(path.join(work, 'vmlinuz'));
      const gzipped = data[0] === 0x1f && data[1] === 0x8b;
      await fs.writeFile(path.join(work, 'Image'), gzipped ? gunzipSync(data) : data);
    }
    const bootModules = await stageModules(sysroot, stage, kernelVersion);
    await fs.mkdir(path.join(stage, 'etc', 'berth'), { recursive: true });
    await fs.writeFile(path.join(stage, 'etc', 'berth', 'modules'), bootModules.join('\n') + '\n');

    progress('userland');
    const copier = new ElfCopier(sysroot, stage);
    for (const bin of USERLAND_BINARIES) await copier.copy(bin);
    for (const dir of userlandDirs(arch)) {
      for (const e of await fs.readdir(path.join(sysroot, dir), { withFileTypes: true })) {
        const guestPath = path.join(dir, e.name);
        if (e.isSymbolicLink())
          await symlinkIn(stage, guestPath, await fs.readlink(path.join(sysroot, guestPath)));
        else if (e.isFile()) await copier.copy(guestPath);
      }
    }
    for (const [link, target] of Object.entries(USERLAND_LINKS)) await symlinkIn(stage, link, target);
    await busyboxApplets(stage, arch === hostArch() ? path.join(sysroot, 'bin', 'busybox') : '/bin/busybox');

    progress(`node ${node.version}`);
    if (node.installedBinary) await copier.copyFrom(node.installedBinary, '/usr/bin/node');
    else await copier.copy('/usr/bin/node');
    if (foreign) await copyNodeModulesDir(sysroot, stage);

    progress('agent');
    const optDir = path.join(stage, 'opt', 'berth');
    for (const f of agentFiles) {
      const rel = path.relative(repoRoot(), f);
      if (rel.startsWith('guest-agent/init/')) continue;
      const dest = path.join(optDir, rel);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.copyFile(f, dest);
      if (f.endsWith('.node')) await copier.libsOf(dest);
    }
    if (compiler) {
      progress(`node-pty for ${arch} (${compiler})`);
      const ptyNode = path.join(optDir, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node');
      await buildNodePty({
        compiler,
        nodePtyDir: path.join(repoRoot(), 'node_modules', 'node-pty'),
        addonApiDir: path.join(repoRoot(), 'node_modules', 'node-addon-api'),
        nodeInclude: path.join(sysroot, 'usr', 'include', 'node'),
        out: ptyNode,
      });
      await copier.libsOf(ptyNode);
    }
    if (cCompiler) {
      progress(`terminal addon for ${arch} (${cCompiler})`);
      const addon = path.join(optDir, TERMINAL_ADDON_OUT);
      await buildTerminalAddon({
        compiler: cCompiler,
        source: path.join(repoRoot(), TERMINAL_ADDON_SOURCE),
        out: addon,
      });
      await copier.libsOf(addon);
    }
    await fs.chmod(path.join(optDir, 'bin', 'berth-engine'), 0o755);
    // The launcher has no extension: this makes Node read it as ESM.
    await fs.writeFile(path.join(optDir, 'package.json'), '{ "type": "module" }\n');

    await stageInit(stage);

    progress('root disk (ext4, read-only)');
    await writeRootDisk(stage, path.join(work, 'root.img'));

    progress('initramfs (first stage: the root disk drivers)');
    const boot = path.join(work, 'boot');
    await stageFirstBoot(stage, boot, kernelVersion);
    await writeCpioGz(boot, path.join(work, 'initramfs.img'));

    let kernelFile = arch === 'aarch64' ? 'Image' : 'vmlinuz';
    if (
      arch === 'x86_64' &&
      (await extractPvhKernel(path.join(work, 'vmlinuz'), path.join(work, 'vmlinux')))
    ) {
      progress('kernel: vmlinux for a PVH boot');
      kernelFile = 'vmlinux';
    }

    const contentHash = createHash('sha256');
    contentHash.update(await fs.readFile(path.join(work, kernelFile)));
    contentHash.update(await fs.readFile(path.join(work, 'initramfs.img')));
    contentHash.update(await fs.readFile(path.join(work, 'root.img')));
    const manifest: ImageManifest = {
      arch,
      layoutVersion: IMAGE_LAYOUT_VERSION,
      kernelVersion,
      packages: Object.fromEntries(pkgs.map((p) => [p.name, p.version])),
      node: { version: node.version, source: node.source },
      inputKey,
      contentHash: contentHash.digest('hex'),
      initramfsBytes: (await fs.stat(path.join(work, 'initramfs.img'))).size,
      kernelFile,
      rootDiskFile: 'root.img',
      rootDiskBytes: (await fs.stat(path.join(work, 'root.img'))).size,
      builtAt: new Date().toISOString(),
    };
    // Kernel and initramfs first, the manifest last: a manifest names a complete image.
    await fs.mkdir(outDir, { recursive: true });
    await fs.rm(out.manifest, { force: true });
    await fs.rename(path.join(work, 'vmlinuz'), out.kernel);
    if (kernelFile === 'vmlinux') await fs.rename(path.join(work, 'vmlinux'), out.pvhKernel);
    if (kernelFile === 'Image') await fs.rename(path.join(work, 'Image'), out.arm64Image);
    await fs.rename(path.join(work, 'initramfs.img'), out.initramfs);
    // A running VM keeps the old root disk open: rename gives the new one a new inode.
    await fs.rename(path.join(work, 'root.img'), out.rootDisk);
    await writeFileAtomic(out.manifest, JSON.stringify(manifest, null, 2) + '\n', 0o644, { mkdir: true });
    progress(
      `image built: ${outDir} (${(manifest.initramfsBytes / 1e6).toFixed(1)} MB initramfs, ${(manifest.rootDiskBytes! / 1e6).toFixed(0)} MB root disk)`,
    );
    return {
      dir: outDir,
      kernel: path.join(outDir, kernelFile),
      initramfs: out.initramfs,
      rootDisk: out.rootDisk,
      manifest,
      rebuilt: true,
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The first stage's tree: its /init, busybox and the kernel modules (with modules.dep) it loads from. */
async function stageFirstBoot(stage: string, boot: string, kver: string): Promise<void> {
  await fs.mkdir(path.join(boot, 'bin'), { recursive: true });
  await fs.mkdir(path.join(boot, 'etc', 'berth'), { recursive: true });
  await fs.copyFile(path.join(stage, 'init'), path.join(boot, 'init'));
  await fs.chmod(path.join(boot, 'init'), 0o755);
  await fs.copyFile(path.join(stage, 'bin', 'busybox'), path.join(boot, 'bin', 'busybox'));
  await fs.chmod(path.join(boot, 'bin', 'busybox'), 0o755);
  await fs.cp(path.join(stage, 'lib', 'modules', kver), path.join(boot, 'lib', 'modules', kver), {
    recursive: true,
  });
  await fs.writeFile(path.join(boot, 'etc', 'berth', 'stage1-modules'), STAGE1_MODULES.join('\n') + '\n');
}

/**
 * Debian's Node loads some of its own modules (cjs-module-lexer, undici,
 * acorn…) from /usr/share/nodejs, where their node-* packages put them: that
 * tree, without type declarations.
 */
async function copyNodeModulesDir(sysroot: string, stage: string): Promise<void> {
  const src = path.join(sysroot, 'usr', 'share', 'nodejs');
  await fs.cp(src, path.join(stage, 'usr', 'share', 'nodejs'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (f) => path.basename(f) !== '@types' && !f.endsWith('.d.ts'),
  });
}

/** Bytes under dir (files and links). */
async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += 4096 + (await treeBytes(p));
    else n += (await fs.lstat(p)).size + 4096;
  }
  return n;
}

/** Every path under dir, relative, directories before what they hold. */
async function treePaths(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.posix.join(rel, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await treePaths(dir, p)));
  }
  return out;
}

/**
 * mke2fs -d copies each file's times, ctime included, which no one can set
 * on the stage: debugfs sets every inode's to one fixed time afterwards.
 */
async function fixInodeTimes(stage: string, image: string): Promise<void> {
  const paths = ['/', '/lost+found', ...(await treePaths(stage)).map((p) => `/${p}`)];
  const odd = paths.find((p) => /["\n]/.test(p));
  if (odd) throw new Error(`${JSON.stringify(odd)}: a path debugfs cannot be given in the root disk`);
  const script = paths.flatMap((p) => ['ctime', 'mtime', 'atime'].map((f) => `sif "${p}" ${f} 1`)).join('\n');
  const r = await exec('debugfs', ['-w', '-f', '-', image], {
    input: script + '\n',
    env: { ...process.env, E2FSPROGS_FAKE_TIME: '1' }, // the superblock's write time
  });
  // debugfs exits 0 whatever its commands did: its complaints are on stderr.
  const errors = r.stderr.split('\n').filter((l) => l.trim() && !/^debugfs \d/.test(l));
  if (errors.length) throw new Error(`debugfs on the root disk: ${errors.slice(0, 3).join(' | ')}`);
}

/**
 * The stage as an ext4 image (mke2fs -d, e2fsprogs): no journal (it is
 * mounted read-only), fixed UUID, hash seed and times so the same tree gives
 * the same bytes.
 */
async function writeRootDisk(stage: string, out: string): Promise<void> {
  const mib = Math.ceil(((await treeBytes(stage)) * 1.1) / 1024 ** 2) + 16;
  await exec(
    'mke2fs',
    [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-O',
      '^has_journal',
      '-m',
      '0',
      '-L',
      'berth-root',
      '-U',
      'b3c7e0a1-0000-4000-8000-000000000001',
      '-E',
      'hash_seed=b3c7e0a1-0000-4000-8000-000000000002,root_owner=0:0',
      '-d',
      stage,
      out,
      `${mib}M`,
    ],
    { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1' } },
  );
  await fixInodeTimes(stage, out);
}

async function symlinkIn(root: string, link: string, target: string): Promise<void> {
  const p = path.join(root, link);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.rm(p, { force: true });
  await fs.symlink(target, p);
}

/** Busybox applets as symlinks where no real binary is installed. */
async function busyboxApplets(stage: string, runnable: string): Promise<void> {
  const { stdout } = await exec(runnable, ['--list-full']);
  for (const rel of stdout.split('\n').map((s) => s.trim())) {
    if (!rel || rel.endsWith('/busybox')) continue;
    const name = path.basename(rel);
    const taken = ['bin', 'sbin', 'usr/bin', 'usr/sbin'].some((d) => existsSync(path.join(stage, d, name)));
    if (taken) continue;
    await symlinkIn(stage, '/' + rel, '/bin/busybox');
  }
}

async function stageInit(stage: string): Promise<void> {
  const src = path.join(repoRoot(), 'guest-agent', 'init');
  await fs.copyFile(path.join(src, 'stage1.sh'), path.join(stage, 'init'));
  await fs.chmod(path.join(stage, 'init'), 0o755);
  await fs.mkdir(path.join(stage, 'sbin'), { recursive: true });
  await fs.copyFile(path.join(src, 'berth-init.sh'), path.join(stage, 'sbin', 'berth-init'));
  await fs.chmod(path.join(stage, 'sbin', 'berth-init'), 0o755);
  const etc = path.join(stage, 'etc');
  await fs.writeFile(
    path.join(etc, 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await fs.writeFile(path.join(etc, 'group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
  await fs.writeFile(path.join(etc, 'hosts'), '127.0.0.1 localhost berth\n::1 localhost\n');
  // QEMU user-mode networking's DNS forwarder.
  await fs.writeFile(path.join(etc, 'resolv.conf'), 'nameserver 10.0.2.3\n');
  await fs.writeFile(path.join(etc, 'hostname'), 'berth\n');
  for (const d of ['root', 'tmp', 'run', 'proc', 'sys', 'dev', 'var/lib/berth', 'var/log', 'mnt']) {
    await fs.mkdir(path.join(stage, d), { recursive: true });
  }
  await fs.chmod(path.join(stage, 'tmp'), 0o1777);
  await fs.chmod(path.join(stage, 'root'), 0o700);
}

/**
 * Copies the wanted modules and their dependencies into the stage, runs
 * depmod there (so modprobe works in the guest) and returns the boot modules
 * in load order. Modules the kernel has built in are skipped.
 */
async function stageModules(sysroot: string, stage: string, kver: string): Promise<string[]> {
  const srcDir = path.join(sysroot, 'lib', 'modules', kver);
  await exec('busybox', ['depmod', '-b', sysroot, kver]);
  const deps = new Map<string, string[]>(); // module name -> [its path, dependency paths…]
  for (const line of (await fs.readFile(path.join(srcDir, 'modules.dep'), 'utf8')).split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    const rel = (p: string) => p.replace(new RegExp(`^/?lib/modules/${kver}/`), '');
    deps.set(moduleName(file), [rel(file), ...rest.trim().split(/\s+/).filter(Boolean).map(rel)]);
  }
  const builtin = new Set(
    (await fs.readFile(path.join(srcDir, 'modules.builtin'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map(moduleName),
  );
  const files = new Set<string>();
  const boot: string[] = [];
  for (const m of [...BOOT_MODULES, ...EXTRA_MODULES]) {
    const entry = deps.get(m.replace(/-/g, '_'));
    if (!entry) {
      if (builtin.has(m.replace(/-/g, '_'))) continue;
      throw new Error(`kernel ${kver} has no module ${m}`);
    }
    for (const f of entry) files.add(f);
    if (BOOT_MODULES.includes(m)) boot.push(m);
  }
  const dstDir = path.join(stage, 'lib', 'modules', kver);
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(dstDir, f)), { recursive: true });
    await fs.copyFile(path.join(srcDir, f), path.join(dstDir, f));
  }
  for (const f of ['modules.builtin', 'modules.order', 'modules.builtin.modinfo']) {
    if (existsSync(path.join(srcDir, f))) await fs.copyFile(path.join(srcDir, f), path.join(dstDir, f));
  }
  await exec('busybox', ['depmod', '-b', stage, kver]);
  return boot;
}

/** Follows symlinks as the guest would: absolute targets are inside root. */
async function resolveIn(root: string, p: string): Promise<string> {
  for (let hops = 0; hops < 40; hops++) {
    const st = await fs.lstat(p);
    if (!st.isSymbolicLink()) return p;
    const target = await fs.readlink(p);
    p = target.startsWith('/') ? path.join(root, target) : path.join(path.dirname(p), target);
  }
  throw new Error(`too many symlinks at ${p}`);
}

function moduleName(file: string): string {
  return path
    .basename(file)
    .replace(/\.ko(\.[a-z]+)?$/, '')
    .replace(/-/g, '_');
}

/** Copies ELF files into the stage together with the shared libraries they need, found in the sysroot. */
class ElfCopier {
  private readonly done = new Set<string>();
  private readonly libDirs: string[];

  constructor(
    private readonly sysroot: string,
    private readonly stage: string,
  ) {
    this.libDirs = [
      'lib/x86_64-linux-gnu',
      'usr/lib/x86_64-linux-gnu',
      'lib/aarch64-linux-gnu',
      'usr/lib/aarch64-linux-gnu',
      'lib',
      'usr/lib',
      'lib64',
    ];
  }

  /** A file of the sysroot, to the same path in the stage. */
  async copy(guestPath: string): Promise<void> {
    const src = path.join(this.sysroot, guestPath);
    if (!existsSync(src)) throw new Error(`${guestPath} is not in the unpacked packages`);
    await this.copyFrom(src, guestPath);
  }

  /** A file from anywhere, to guestPath in the stage. */
  async copyFrom(src: string, guestPath: string): Promise<void> {
    if (this.done.has(guestPath)) return;
    this.done.add(guestPath);
    const dest = path.join(this.stage, guestPath);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const real = src.startsWith(this.sysroot + '/')
      ? await resolveIn(this.sysroot, src)
      : await fs.realpath(src);
    await fs.copyFile(real, dest);
    await fs.chmod(dest, (await fs.stat(real)).mode & 0o7777);
    await this.libsOf(dest);
  }

  /** The libraries (and interpreter) an ELF file in the stage needs. */
  async libsOf(file: string): Promise<void> {
    const deps = await elfDeps(file);
    if (!deps) return;
    if (deps.interpreter) await this.copyLib(deps.interpreter, deps.interpreter);
    for (const soname of deps.needed) {
      const dir = this.libDirs.find((d) => existsSync(path.join(this.sysroot, d, soname)));
      if (!dir)
        throw new Error(`${soname} (needed by ${path.relative(this.stage, file)}) is in no unpacked package`);
      await this.copyLib(`/${dir}/${soname}`, `/${dir}/${soname}`);
    }
  }

  private async copyLib(sysrootPath: string, guestPath: string): Promise<void> {
    let src = path.join(this.sysroot, sysrootPath);
    if (!existsSync(src)) {
      // The interpreter path (/lib64/ld-linux-x86-64.so.2) is a link a package may not ship.
      const base = path.basename(sysrootPath);
      const dir = this.libDirs.find((d) => existsSync(path.join(this.sysroot, d, base)));
      if (!dir) throw new Error(`${sysrootPath} is in no unpacked package`);
      src = path.join(this.sysroot, dir, base);
    }
    await this.copyFrom(src, guestPath);
  }
}
