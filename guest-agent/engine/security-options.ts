// HostConfig.SecurityOpt (`--security-opt`), read as dockerd reads it. There is
// no AppArmor or SELinux in Berth's VM, so `apparmor=` and `label=` are taken
// and have no effect, as on a Linux host without them.
import { invalid } from '../errors.js';
import { parseSeccompProfile, type DockerSeccompProfile } from '../runtime/seccomp-custom.js';

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** Absent: the default profile. */
  seccomp?: 'unconfined' | DockerSeccompProfile;
  writableCgroups: boolean;
}

function parseBool(value: string, opt: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
}

/** `engineDefault`: the engine's no-new-privileges setting, which an option may turn off. */
export function parseSecurityOptions(
  opts: readonly string[],
  engineDefault: { noNewPrivileges: boolean } = { noNewPrivileges: false },
): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: engineDefault.noNewPrivileges, writableCgroups: false };
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') continue; // label=disable's old spelling
    // "=" separates; ":" is dockerd's deprecated separator, still accepted.
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : undefined;
    if (!sep) throw invalid(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const at = opt.indexOf(sep);
    const key = opt.slice(0, at);
    const value = opt.slice(at + 1);
    switch (key) {
      case 'label':
      case 'apparmor':
        break;
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = 'unconfined';
        else if (value === 'builtin' || value === '') out.seccomp = undefined;
        else out.seccomp = parseSeccompProfile(value);
        break;
      case 'no-new-privileges':
        out.noNewPrivileges = parseBool(value, opt);
        break;
      case 'writable-cgroups':
        out.writableCgroups = parseBool(value, opt);
        break;
      default:
        throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}
