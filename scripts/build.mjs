// Bundles the engine and the CLI into dist/ with esbuild: one ESM file each, so
// they start fast and need nothing of tsx at run time. Native addons (and the
// packages that load them) stay external and are loaded from node_modules.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TERMINAL_ADDON_OUT, TERMINAL_ADDON_SOURCE, nativeAddonArgs } from './native-addon.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export const BUILD_ENTRIES = [
  { entry: 'guest-agent/main.ts', out: 'dist/berth-engine.mjs' },
  // Beside the engine's bundle: the worker thread that unpacks large layers (layer-stage-client.ts).
  { entry: 'guest-agent/storage/layer-stage-worker.ts', out: 'dist/berth-stage-layer.mjs' },
  { entry: 'cli/main.ts', out: 'dist/berth.mjs' },
  // The guest's end of the host↔guest channel, shipped in the VM image.
  { entry: 'guest-agent/control/main.ts', out: 'dist/berth-guest-control.mjs' },
  // The desktop app's Electron main process and its window's preload (sandboxed preloads are CommonJS).
  { entry: 'main/electron/main.ts', out: 'dist/electron/main.mjs' },
  { entry: 'main/electron/preload.ts', out: 'dist/electron/preload.cjs', format: 'cjs' },
  // Beside the engine's bundle: the receiving end of crun's --console-socket (a Node-API addon in C).
  { entry: TERMINAL_ADDON_SOURCE, out: TERMINAL_ADDON_OUT, native: true },
];

function buildNative(entry, out) {
  const r = spawnSync('cc', nativeAddonArgs(join(repoRoot, entry), join(repoRoot, out)), {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0)
    throw new Error(
      `cc could not build ${out} from ${entry}: ${r.error?.message ?? r.stderr.trim()} (apt-get install -y gcc)`,
    );
}

/** Folders whose files end up in the bundles (bootstrap compares their mtimes with dist/). */
export const BUILD_SOURCES = ['guest-agent', 'cli', 'compose', 'common', 'vm', 'main'];

// CommonJS dependencies inside an ESM bundle call require(); give them one.
const BANNER =
  "import { createRequire as __berthCreateRequire } from 'node:module';\n" +
  'const require = __berthCreateRequire(import.meta.url);';

/** What the dashboard bundle is made from (bootstrap rebuilds dist/renderer when one is newer). */
export const RENDERER_SOURCES = ['renderer', 'common'];
export const RENDERER_OUT = 'dist/renderer/index.html';

/** The dashboard (renderer/: React, built by Vite) into dist/renderer. */
export async function buildRenderer({ quiet = false } = {}) {
  const { build: viteBuild } = await import('vite');
  await viteBuild({
    root: join(repoRoot, 'renderer'),
    base: './',
    configFile: false,
    logLevel: quiet ? 'warn' : 'info',
    build: {
      outDir: join(repoRoot, 'dist', 'renderer'),
      emptyOutDir: true,
      sourcemap: true,
      chunkSizeWarningLimit: 1500,
    },
  });
  return [RENDERER_OUT];
}

export async function build({ quiet = false, renderer = true } = {}) {
  const esbuild = await import('esbuild');
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  const built = [];
  for (const { entry, out, format = 'esm', native } of BUILD_ENTRIES) {
    if (!existsSync(join(repoRoot, entry))) {
      console.warn(`build: ${entry} does not exist yet; ${out} not built`);
      continue;
    }
    if (native) {
      buildNative(entry, out);
      built.push(out);
      continue;
    }
    await esbuild.build({
      absWorkingDir: repoRoot,
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format,
      // Smaller source is less for V8 to hold at idle (the engine's RSS target).
      // Nothing reads function or class names; stack traces are mapped back to
      // the sources with --log-level debug (bin/berth-engine).
      minify: true,
      sourcemap: true,
      banner: format === 'esm' ? { js: BANNER } : undefined,
      // ws loads bufferutil/utf-8-validate only if installed (they are not).
      external: ['node-pty', 'cpu-features', 'ssh2', 'bufferutil', 'utf-8-validate', 'electron'],
      logLevel: quiet ? 'warning' : 'info',
    });
    built.push(out);
  }
  // The tray's icons, beside the Electron main process.
  cpSync(join(repoRoot, 'main', 'electron', 'icons'), join(repoRoot, 'dist', 'electron', 'icons'), {
    recursive: true,
  });
  if (renderer) built.push(...(await buildRenderer({ quiet })));
  return built;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await build();
  } catch (err) {
    // esbuild has already printed the located errors.
    console.error(`build failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    process.exit(1);
  }
}
