// The VM settings file on disk ($BERTH_HOME/settings.json): read and checked
// (a bad file is an error that names the file and the problem, never silently
// ignored), changed with `berth vm settings set`, written atomically. The
// checks that need this host (its CPUs, memory, the disk as it is, folders
// that exist) are here; the shape and the rest are in common/vm-settings.ts.
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readJson, writeFileAtomic } from '../common/atomic-file.js';
import {
  parseVmSetting,
  vmSettingsErrors,
  type VmSettingKey,
  type VmSettingsFile,
} from '../common/vm-settings.js';
import { diskInfo } from './disk.js';
import type { VmPaths } from './paths.js';

export async function readSettingsFile(paths: VmPaths): Promise<VmSettingsFile> {
  let value: unknown;
  try {
    value = await readJson<unknown>(paths.settings);
  } catch (err) {
    throw new Error(`${paths.settings}: ${(err as Error).message}`);
  }
  if (value === undefined) return {};
  const errors = vmSettingsErrors(value);
  if (errors.length) throw new Error(`${paths.settings}: ${errors.join('; ')}`);
  return value as VmSettingsFile;
}

/** Problems with settings on this host (checked when they are set). */
export async function hostSettingsErrors(paths: VmPaths, s: VmSettingsFile): Promise<string[]> {
  const errors: string[] = [];
  const hostCpus = os.cpus().length;
  if (s.cpus !== undefined && s.cpus > hostCpus)
    errors.push(`cpus: ${s.cpus} is more than this host has (${hostCpus})`);
  const hostMiB = Math.floor(os.totalmem() / 1024 ** 2);
  if (s.memoryMiB !== undefined && s.memoryMiB > hostMiB)
    errors.push(`memoryMiB: ${s.memoryMiB} is more than this host has (${hostMiB} MiB)`);
  if (s.diskGiB !== undefined && existsSync(paths.disk)) {
    const have = await diskInfo(paths.disk).catch(() => undefined);
    if (have && s.diskGiB * 1024 ** 3 < have.virtualSize)
      errors.push(
        `diskGiB: the disk is already ${have.virtualSize / 1024 ** 3} GiB and cannot shrink (\`berth vm reset\` starts over with a new disk)`,
      );
  }
  for (const folder of s.sharedFolders ?? []) {
    if (!existsSync(folder)) errors.push(`sharedFolders: ${folder} does not exist`);
    else if (!statSync(folder).isDirectory()) errors.push(`sharedFolders: ${folder} is not a folder`);
  }
  return errors;
}

/**
 * Applies `key=value` assignments to the settings file: all or none (every
 * value is checked first). Returns the settings as written.
 */
export async function setSettings(paths: VmPaths, assignments: string[]): Promise<VmSettingsFile> {
  const next: VmSettingsFile = { ...(await readSettingsFile(paths)) };
  const changed: VmSettingsFile = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`${a}: expected key=value`);
    const key = a.slice(0, eq) as VmSettingKey;
    const value = parseVmSetting(key, a.slice(eq + 1), path.delimiter);
    if (value === undefined) delete next[key];
    else Object.assign(next, { [key]: value });
    Object.assign(changed, { [key]: value });
  }
  const errors = await hostSettingsErrors(paths, changed);
  if (errors.length) throw new Error(errors.join('\n'));
  await writeFileAtomic(paths.settings, JSON.stringify(next, null, 2) + '\n', 0o644, { mkdir: true });
  return next;
}
