// Where the app puts the `berth` command (packed as an extra resource) so that
// a terminal finds it: a launcher script in a folder on the user's PATH.
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

export interface CliInstallPlan {
  /** The bundled CLI inside the app's resources. */
  target: string;
  /** The launcher the user's PATH will find. */
  link: string;
  /** The launcher's text. */
  script: string;
  alreadyInstalled(): boolean;
  install(): Promise<void>;
}

export function installCliPlan(opts: {
  platform: NodeJS.Platform;
  resourcesPath: string;
  home: string;
  packaged: boolean;
}): CliInstallPlan | undefined {
  if (!opts.packaged) return undefined; // a development checkout has bin/berth already
  const target = path.join(opts.resourcesPath, 'cli', 'berth.mjs');
  const win = opts.platform === 'win32';
  const dir = win
    ? path.join(opts.home, 'AppData', 'Local', 'Microsoft', 'WindowsApps')
    : opts.platform === 'darwin'
      ? '/usr/local/bin'
      : path.join(opts.home, '.local', 'bin');
  const link = path.join(dir, win ? 'berth.cmd' : 'berth');
  // The app's own Electron runs the CLI as Node (ELECTRON_RUN_AS_NODE); `berth vm` boots the guest
  // image shipped beside it (vm/paths.ts bundledImagesDir).
  const exe = process.execPath;
  const images = path.join(opts.resourcesPath, 'guest-image');
  const script = win
    ? `@echo off\r\nset ELECTRON_RUN_AS_NODE=1\r\nset "BERTH_BUNDLED_IMAGES=${images}"\r\n"${exe}" "${target}" %*\r\n`
    : `#!/bin/sh\nELECTRON_RUN_AS_NODE=1 BERTH_BUNDLED_IMAGES='${images}' exec "${exe}" "${target}" "$@"\n`;
  return {
    target,
    link,
    script,
    alreadyInstalled: () => existsSync(link) && readFileSync(link, 'utf8') === script,
    install: async () => {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(link, script, { mode: 0o755 });
    },
  };
}
