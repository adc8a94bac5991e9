// Where Berth keeps its host-side files. BERTH_HOME (default ~/.berth) holds
// the VM's disk, keys, state, logs and the forwarded docker.sock; BERTH_CACHE
// (default $BERTH_HOME/cache) holds downloaded packages and built guest images.
import os from 'node:os';
import path from 'node:path';

export type GuestArch = 'x86_64' | 'aarch64';

export function berthHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_HOME || path.join(os.homedir(), '.berth');
}

export function berthCache(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_CACHE || path.join(berthHome(env), 'cache');
}

export function hostArch(): GuestArch {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

export const GUEST_ARCHS: readonly GuestArch[] = ['x86_64', 'aarch64'];

/** A guest architecture named by the user (--arch, BERTH_ARCH), checked. */
export function parseGuestArch(value: string, what = '--arch'): GuestArch {
  if ((GUEST_ARCHS as readonly string[]).includes(value)) return value as GuestArch;
  throw new Error(`${what}: ${value} is not a guest architecture; use ${GUEST_ARCHS.join(' or ')}`);
}

/**
 * The VM's architecture: the host's, unless BERTH_ARCH names another (an
 * emulated guest, as the aarch64 test runs one under TCG on x86_64).
 */
export function guestArch(env: NodeJS.ProcessEnv = process.env): GuestArch {
  return env.BERTH_ARCH ? parseGuestArch(env.BERTH_ARCH, 'BERTH_ARCH') : hostArch();
}

/** The files of one VM, all under its data dir (one VM per data dir). */
export interface VmPaths {
  home: string;
  dir: string;
  disk: string;
  state: string;
  lock: string;
  qmp: string;
  control: string;
  serialLog: string;
  supervisorLog: string;
  hostKey: string;
  engineSocket: string;
  /** The user's VM settings (common/vm-settings.ts). */
  settings: string;
  /** Where `berth vm ssh` reaches the guest's control server (through the VM process). */
  shellSocket: string;
}

export function vmPaths(home: string = berthHome()): VmPaths {
  const dir = path.join(home, 'vm');
  return {
    home,
    dir,
    disk: path.join(dir, 'data.qcow2'),
    state: path.join(dir, 'state.json'),
    lock: path.join(dir, 'lock'),
    qmp: path.join(dir, 'qmp.sock'),
    control: path.join(dir, 'control.sock'),
    serialLog: path.join(dir, 'console.log'),
    supervisorLog: path.join(dir, 'vm.log'),
    hostKey: path.join(home, 'keys', 'id_ed25519'),
    engineSocket: path.join(home, 'docker.sock'),
    settings: path.join(home, 'settings.json'),
    shellSocket: path.join(dir, 'ssh.sock'),
  };
}

/**
 * Guest images shipped with the desktop app (electron-builder's extraResources, staged by
 * scripts/stage-guest-image.mjs), one folder per architecture; undefined outside the app. The
 * app's `berth` launcher names the folder in BERTH_BUNDLED_IMAGES.
 */
export function bundledImagesDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BERTH_BUNDLED_IMAGES) return env.BERTH_BUNDLED_IMAGES;
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  return resources ? path.join(resources, 'guest-image') : undefined;
}

/** Where a built guest image for one architecture lives. */
export function imageDir(arch: GuestArch, cache: string = berthCache()): string {
  return path.join(cache, 'images', arch);
}
