// The VM's part of the settings file, $BERTH_HOME/settings.json: what the user
// chose for the VM (CPUs, memory, disk, shared folders, accelerator), applied
// at its next start. The file also holds the desktop's own settings
// (common/desktop-api.ts Settings, the same names for the fields both have);
// the VM reads and checks only its keys and leaves the others as they are.
// Pure: no file system access.

export type VmAccelSetting = 'auto' | 'kvm' | 'hvf' | 'whpx' | 'tcg';
export type VmShareTypeSetting = 'auto' | 'virtiofs' | '9p';

/** The file's shape; a key left out means its default. */
export interface VmSettingsFile {
  cpus?: number;
  memoryMiB?: number;
  /** The data disk's size; growing it resizes the disk at the next start, it never shrinks. */
  diskGiB?: number;
  /** Host folders that appear in the VM at the same paths; left out: the user's home; []: none. */
  sharedFolders?: string[];
  shareType?: VmShareTypeSetting;
  accel?: VmAccelSetting;
  /** How long a boot under TCG may take before the VM is in error (accelerated boots get less). */
  bootTimeoutSeconds?: number;
}

export type VmSettingKey = keyof VmSettingsFile;

export const VM_SETTING_KEYS: readonly VmSettingKey[] = [
  'cpus',
  'memoryMiB',
  'diskGiB',
  'sharedFolders',
  'shareType',
  'accel',
  'bootTimeoutSeconds',
];

export const VM_SETTING_HELP: Record<VmSettingKey, string> = {
  cpus: 'virtual CPUs (1–128)',
  memoryMiB: 'memory in MiB (at least 512; 4G and 4096M are accepted too)',
  diskGiB: 'data disk size in GiB (8–2048; grows at the next start, never shrinks)',
  sharedFolders: "folders shared at the same path in the VM, ':'-separated; none for none",
  shareType: 'auto, virtiofs or 9p',
  accel: 'auto, kvm, hvf, whpx or tcg',
  bootTimeoutSeconds: 'how long a TCG boot may take (1–3600)',
};

const ACCELS: readonly VmAccelSetting[] = ['auto', 'kvm', 'hvf', 'whpx', 'tcg'];
const SHARE_TYPES: readonly VmShareTypeSetting[] = ['auto', 'virtiofs', '9p'];

function intIn(key: string, v: unknown, min: number, max: number): string | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    return `${key}: ${JSON.stringify(v)} is not a whole number from ${min} to ${max}`;
  return undefined;
}

/** What is wrong with the VM's keys of a settings object (as read from the file), one message per problem. */
export function vmSettingsErrors(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return ['the settings are not a JSON object'];
  const errors: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    let e: string | undefined;
    switch (key as VmSettingKey) {
      case 'cpus':
        e = intIn(key, v, 1, 128);
        break;
      case 'memoryMiB':
        e = intIn(key, v, 512, 1024 * 1024);
        break;
      case 'diskGiB':
        e = intIn(key, v, 8, 2048);
        break;
      case 'bootTimeoutSeconds':
        e = intIn(key, v, 1, 3600);
        break;
      case 'accel':
        if (!ACCELS.includes(v as VmAccelSetting))
          e = `accel: ${JSON.stringify(v)}: use ${ACCELS.join(', ')}`;
        break;
      case 'shareType':
        if (!SHARE_TYPES.includes(v as VmShareTypeSetting))
          e = `shareType: ${JSON.stringify(v)}: use ${SHARE_TYPES.join(', ')}`;
        break;
      case 'sharedFolders':
        if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
          e = 'sharedFolders: not a list of folder paths';
        else {
          const relative = v.find((s: string) => !s.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(s));
          if (relative !== undefined)
            e = `sharedFolders: ${JSON.stringify(relative)} is not an absolute path`;
        }
        break;
      default:
      // The desktop's own settings: not the VM's to check.
    }
    if (e) errors.push(e);
  }
  return errors;
}

/** A size with an optional unit (K, M, G, T; binary) in the given unit, or NaN. */
function sizeIn(text: string, unitBytes: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return NaN;
  const scale = { '': unitBytes, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const n = (Number(m[1]) * scale) / unitBytes;
  return Number.isInteger(n) ? n : NaN;
}

/**
 * One `key=value` from the command line as the file stores it; an empty value
 * means "back to the default" (undefined). Throws with a message for the user.
 */
export function parseVmSetting(key: string, text: string, pathDelimiter = ':'): VmSettingsFile[VmSettingKey] {
  if (!VM_SETTING_KEYS.includes(key as VmSettingKey))
    throw new Error(`${key}: not a setting (settings: ${VM_SETTING_KEYS.join(', ')})`);
  if (text === '') return undefined;
  let value: unknown;
  switch (key as VmSettingKey) {
    case 'memoryMiB':
      value = sizeIn(text, 1024 ** 2);
      break;
    case 'diskGiB':
      value = sizeIn(text, 1024 ** 3);
      break;
    case 'cpus':
    case 'bootTimeoutSeconds':
      value = /^\d+$/.test(text) ? Number(text) : text;
      break;
    case 'sharedFolders':
      value = text.trim() === 'none' ? [] : text.split(pathDelimiter).filter(Boolean);
      break;
    default:
      value = text;
  }
  const errors = vmSettingsErrors({ [key]: value });
  if (errors.length)
    throw new Error(Number.isNaN(value) ? `${key}: ${JSON.stringify(text)} is not a size` : errors[0]);
  return value as VmSettingsFile[VmSettingKey];
}
