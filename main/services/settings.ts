// The desktop settings, kept in $BERTH_HOME/settings.json (written atomically).
import os from 'node:os';
import path from 'node:path';
import type { Settings, SettingsSaveResult } from '../../common/desktop-api.js';
import { readJson, writeFileAtomic } from '../../common/atomic-file.js';
import { DEFAULT_SETTINGS, RESTART_FIELDS, validateSettings } from '../../common/settings.js';
import { berthHome } from '../../vm/paths.js';
import { DesktopFailure } from '../errors.js';

export function hostLimits(): { hostCpus: number; hostMemoryMiB: number } {
  return { hostCpus: os.cpus().length, hostMemoryMiB: Math.floor(os.totalmem() / 1024 / 1024) };
}

export class SettingsService {
  readonly file: string;

  constructor(home: string = berthHome()) {
    this.file = path.join(home, 'settings.json');
  }

  async get(): Promise<Settings> {
    const stored = (await readJson<Partial<Settings>>(this.file, { ignoreCorrupt: true })) ?? {};
    // The VM reads the same file: no sharedFolders there means the user's home.
    return { ...DEFAULT_SETTINGS, sharedFolders: [os.homedir()], ...stored };
  }

  async save(next: Settings): Promise<SettingsSaveResult> {
    const fields = validateSettings(next, hostLimits());
    if (Object.keys(fields).length > 0) throw new DesktopFailure('some settings are not valid', 400, fields);
    const before = await this.get();
    const settings: Settings = { ...DEFAULT_SETTINGS, ...next };
    // The file is shared with the VM (vm/ reads its own keys): keys this view does not edit stay.
    const file = (await readJson<Record<string, unknown>>(this.file, { ignoreCorrupt: true })) ?? {};
    await writeFileAtomic(this.file, JSON.stringify({ ...file, ...settings }, null, 2) + '\n', 0o644, {
      mkdir: true,
    });
    const needsRestart = RESTART_FIELDS.filter(
      (k) => JSON.stringify(before[k]) !== JSON.stringify(settings[k]),
    );
    return { settings, needsRestart };
  }
}
