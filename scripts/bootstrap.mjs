// Brings a Debian/Ubuntu machine to the point where Berth can be built, run and
// tested: Debian packages, node_modules, dist/. Plain JS with no dependencies,
// because it runs before `npm ci`. Every step checks first, so a machine that is
// already set up gets through in well under a second.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What the engine and the tests call at run time (runc/crun, overlay, netns, iptables, xattrs). */
export const DEBIAN_PACKAGES = [
  'runc',
  'crun',
  'busybox-static',
  'iptables',
  'iproute2',
  'util-linux',
  'attr',
  'procps',
  // `docker run --init`: tini-static, bind-mounted into containers as docker-init.
  'tini',
  // The registry tests: a real Distribution registry, htpasswd for its basic auth, openssl for token certs.
  'docker-registry',
  'apache2-utils',
  'openssl',
  // The engine's console-socket addon (guest-agent/native/console-socket.c).
  'gcc',
  // The Berth VM: QEMU (TCG where there is no usable accelerator) and qemu-img for its disk.
  'qemu-system-x86',
  'qemu-utils',
  // The aarch64 guest (test/vm/vm-aarch64.test.ts): its QEMU, and on an x86_64 host the
  // cross compiler its image build needs for node-pty (vm/image/native-addons.ts).
  'qemu-system-arm',
  ...(process.arch === 'x64' ? ['g++-aarch64-linux-gnu'] : []),
  ...virtiofsdPackage(),
  // The compose interop tests: Debian's docker-compose 1.29 against the engine.
  'docker-compose',
  // The dashboard's UI tests: a real browser driven by playwright-core.
  'chromium',
];

/**
 * virtiofsd serves the VM's shared folders. Debian 12's QEMU (7.2) still ships
 * one in qemu-system-common (/usr/lib/qemu/virtiofsd), and the release has no
 * virtiofsd package; later releases have it as a package of its own. Without
 * either the VM shares folders over 9p.
 */
function virtiofsdPackage() {
  if (existsSync('/usr/libexec/virtiofsd') || existsSync('/usr/lib/qemu/virtiofsd')) return [];
  const r = spawnSync('apt-cache', ['show', '--no-all-versions', 'virtiofsd'], { encoding: 'utf8' });
  return !r.error && r.status === 0 && /^Package: virtiofsd$/m.test(r.stdout) ? ['virtiofsd'] : [];
}

const STAMP = join(repoRoot, 'node_modules', '.berth-install-stamp');

export function checkNodeVersion() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    console.error(`Berth needs Node.js 20 or newer; this is ${process.version} (${process.execPath}).`);
    process.exit(1);
  }
}

function say(quiet, msg) {
  if (!quiet) console.log(`bootstrap: ${msg}`);
}

/** Runs a command with inherited stdio; exits the process with a clear line if it fails. */
function mustRun(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: repoRoot, ...opts });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit code ${r.status ?? r.signal}`;
    console.error(`bootstrap: \`${[cmd, ...args].join(' ')}\` failed (${why})`);
    process.exit(1);
  }
}

export function missingDebianPackages(packages = DEBIAN_PACKAGES) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...packages], { encoding: 'utf8' });
  if (r.error) return null; // not a dpkg system: nothing we can check or install
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.endsWith(' install ok installed'))
      .map((l) => l.split(' ')[0].split(':')[0]),
  );
  return packages.filter((p) => !installed.has(p));
}

function ensureDebianPackages(quiet) {
  const missing = missingDebianPackages();
  if (missing === null) {
    say(quiet, `dpkg-query not found: make sure these are installed yourself: ${DEBIAN_PACKAGES.join(' ')}`);
    return;
  }
  if (missing.length === 0) return;
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) {
    console.error(`bootstrap: missing Debian packages: ${missing.join(' ')}. Install them as root:`);
    console.error(
      `  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get ${install.join(' ')}`,
    );
    process.exit(1);
  }
  say(quiet, `installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptOut = quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit';
  mustRun('apt-get', ['update'], { env, stdio: aptOut });
  mustRun('apt-get', install, { env, stdio: aptOut });
}

function lockHash() {
  // The ABI goes into the stamp too: native addons must be rebuilt for another Node.
  return createHash('sha256')
    .update(readFileSync(join(repoRoot, 'package-lock.json')))
    .update(`\0${process.versions.modules}\0${process.arch}`)
    .digest('hex');
}

/**
 * True when node_modules matches package-lock.json package for package, judged
 * from npm's own record (node_modules/.package-lock.json). Lets a tree that was
 * installed without our stamp (or by `npm install x`) be kept instead of wiped.
 */
function treeMatchesLock() {
  const hidden = join(repoRoot, 'node_modules', '.package-lock.json');
  if (!existsSync(hidden)) return false;
  try {
    const want = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')).packages ?? {};
    const have = JSON.parse(readFileSync(hidden, 'utf8')).packages ?? {};
    for (const [path, meta] of Object.entries(want)) {
      if (path === '') continue;
      const got = have[path];
      if (!got) {
        if (meta.optional) continue; // another platform's optional binary
        return false;
      }
      if (got.version !== meta.version) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function nodePtyLoads() {
  const r = spawnSync(process.execPath, ['-e', "require('node-pty')"], { cwd: repoRoot, stdio: 'ignore' });
  return r.status === 0;
}

function ensureNodeModules(quiet) {
  const hash = lockHash();
  const stampOk = existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === hash;
  if (stampOk) return;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const npmStdio = quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit';
  if (!treeMatchesLock()) {
    say(quiet, 'installing npm packages (npm ci)');
    // Electron is there for its types (the desktop shell is not run on these
    // machines); its install script would download a binary: never.
    mustRun(npm, ['ci', '--no-audit', '--no-fund'], {
      stdio: npmStdio,
      env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
    });
  }
  if (!nodePtyLoads()) {
    // npm 11 may skip install scripts; node-pty's native addon then is not built.
    say(quiet, 'building node-pty (npm rebuild node-pty)');
    mustRun(npm, ['rebuild', 'node-pty'], { stdio: npmStdio });
    if (!nodePtyLoads()) {
      console.error(
        'bootstrap: node-pty does not load after `npm rebuild node-pty`; check that python3, make and g++ are installed.',
      );
      process.exit(1);
    }
  }
  writeFileSync(STAMP, hash + '\n');
}

/** Newest mtime (ms) of any file under dir, skipping nothing but dot-entries. */
function newestMtime(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export async function ensureBuilt(quiet) {
  const { BUILD_SOURCES, BUILD_ENTRIES, build } = await import(
    pathToFileURL(join(repoRoot, 'scripts', 'build.mjs')).href
  );
  const sources = Math.max(
    ...BUILD_SOURCES.map((d) => newestMtime(join(repoRoot, d))),
    statSync(join(repoRoot, 'package-lock.json')).mtimeMs,
    statSync(join(repoRoot, 'scripts', 'build.mjs')).mtimeMs,
    statSync(join(repoRoot, 'scripts', 'native-addon.mjs')).mtimeMs,
  );
  const stale = BUILD_ENTRIES.filter(({ entry, out }) => {
    if (!existsSync(join(repoRoot, entry))) return false;
    const o = join(repoRoot, out);
    return !existsSync(o) || statSync(o).mtimeMs < sources;
  });
  if (stale.length > 0) {
    say(quiet, `building ${stale.map((s) => s.out).join(', ')}`);
    await build({ quiet: true, renderer: false });
  }
  // The dashboard: rebuilt by Vite only when renderer/ or common/ changed.
  const { RENDERER_SOURCES, RENDERER_OUT, buildRenderer } = await import(
    pathToFileURL(join(repoRoot, 'scripts', 'build.mjs')).href
  );
  const rendererOut = join(repoRoot, RENDERER_OUT);
  const rendererSources = Math.max(
    ...RENDERER_SOURCES.map((d) => newestMtime(join(repoRoot, d))),
    statSync(join(repoRoot, 'package-lock.json')).mtimeMs,
  );
  if (
    existsSync(join(repoRoot, 'renderer')) &&
    (!existsSync(rendererOut) || statSync(rendererOut).mtimeMs < rendererSources)
  ) {
    say(quiet, `building the dashboard (${RENDERER_OUT})`);
    await buildRenderer({ quiet: true });
  }
}

/** Debian packages, node_modules, dist/: each only when missing or stale. */
export async function bootstrap({ quiet = false } = {}) {
  checkNodeVersion();
  ensureDebianPackages(quiet);
  ensureNodeModules(quiet);
  await ensureBuilt(quiet);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bootstrap();
}
