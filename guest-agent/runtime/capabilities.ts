// Linux capabilities of a container process, with Docker's semantics for
// --cap-add, --cap-drop and --privileged.
import { readFileSync } from 'node:fs';
import { invalid } from '../errors.js';

/** Every capability the kernel defines, in bit order (index = capability number). */
export const ALL_KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set for a non-privileged container. */
export const DEFAULT_CAPABILITIES: string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

let supportedCache: string[] | undefined;

/**
 * Every capability a privileged container can get: those the kernel has, within the
 * engine's own bounding set (a sandboxed engine may lack some; asking the runtime for
 * them would fail the start with "unable to apply caps").
 */
export function allCapabilities(): string[] {
  if (!supportedCache) {
    let last = ALL_KNOWN_CAPABILITIES.length - 1;
    let bounding = (1n << BigInt(ALL_KNOWN_CAPABILITIES.length)) - 1n;
    try {
      const n = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim(), 10);
      if (Number.isInteger(n) && n >= 0) last = Math.min(last, n);
      const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
      if (bnd) bounding = BigInt(`0x${bnd}`);
    } catch {
      // no /proc: assume every capability we know of
    }
    supportedCache = ALL_KNOWN_CAPABILITIES.slice(0, last + 1).filter(
      (_c, i) => (bounding >> BigInt(i)) & 1n,
    );
  }
  return [...supportedCache];
}

/** 'net_admin', 'NET_ADMIN', 'cap_net_admin' → 'CAP_NET_ADMIN'; 'all' → 'ALL'. Throws for unknown names. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_KNOWN_CAPABILITIES.includes(full)) throw invalid(`unknown capability: "${full}"`);
  return full;
}

/**
 * The capability set of a container process:
 * privileged → everything; otherwise the default set, minus capDrop, plus capAdd.
 * 'ALL' in capAdd starts from every capability (then drops), 'ALL' in capDrop starts
 * from none (then adds). Names are validated even when privileged, as dockerd does at create.
 */
export function effectiveCapabilities(capAdd: string[], capDrop: string[], privileged: boolean): string[] {
  const add = [...new Set(capAdd.map(normalizeCapability))];
  const drop = [...new Set(capDrop.map(normalizeCapability))];
  if (privileged) return allCapabilities();

  let caps: string[];
  if (add.includes('ALL')) {
    caps = allCapabilities().filter((c) => !drop.includes(c));
  } else if (drop.includes('ALL')) {
    caps = [...add];
  } else {
    caps = DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
    for (const c of add) if (!caps.includes(c)) caps.push(c);
  }
  return caps.filter((c) => c !== 'ALL');
}
