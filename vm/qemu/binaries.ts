// Finds QEMU before a VM starts: a missing QEMU is a clear error that says
// what to install, not a spawn failure deep in the boot.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { GuestArch } from '../paths.js';
import { qemuBinary, type HostPlatform } from './argv.js';

/** The first executable called name on PATH. */
export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** How to install QEMU on each platform. */
export function qemuInstallHint(arch: GuestArch, platform: HostPlatform): string {
  switch (platform) {
    case 'darwin':
      return 'brew install qemu';
    case 'win32':
      return 'winget install SoftwareFreedomConservancy.QEMU, and add its folder to PATH';
    case 'linux':
      return `apt-get install ${arch === 'aarch64' ? 'qemu-system-arm' : 'qemu-system-x86'} qemu-utils (or your distribution's QEMU packages)`;
  }
}

/** The QEMU system emulator for arch, after checking that it and qemu-img are installed. */
export function requireQemu(arch: GuestArch, platform: HostPlatform): string {
  const wanted = [qemuBinary(arch, platform), platform === 'win32' ? 'qemu-img.exe' : 'qemu-img'];
  const missing = wanted.filter((b) => !findOnPath(b));
  if (missing.length)
    throw new Error(
      `QEMU is not installed: ${missing.join(' and ')} not found on PATH; install it: ${qemuInstallHint(arch, platform)}`,
    );
  return findOnPath(wanted[0])!;
}
