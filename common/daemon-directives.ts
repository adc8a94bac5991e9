// The daemon.json directives the engine reads, with the JSON kind of each: one list for the engine
// (guest-agent/daemon-config.ts) and for the desktop's Settings check (common/settings.ts), so a file
// the dashboard accepts is one the engine accepts.

export type DirectiveKind =
  | 'string'
  | 'bool'
  | 'strings'
  | 'map'
  | 'int'
  /** An object of booleans (features). */
  | 'boolMap'
  /** Any JSON object (builder: BuildKit's settings, taken and not acted on). */
  | 'object'
  /** default-ulimits: name → {Name, Soft, Hard}. */
  | 'ulimits'
  /** default-address-pools: [{base: CIDR, size: prefix length}]. */
  | 'addressPools';

export const DAEMON_DIRECTIVES = {
  'log-driver': 'string',
  'log-opts': 'map',
  'log-level': 'string',
  debug: 'bool',
  bip: 'string',
  iptables: 'bool',
  'userland-proxy': 'bool',
  'insecure-registries': 'strings',
  'registry-mirrors': 'strings',
  'max-concurrent-downloads': 'int',
  'max-concurrent-uploads': 'int',
  dns: 'strings',
  'dns-search': 'strings',
  'dns-opts': 'strings',
  'host-gateway-ip': 'string',
  'default-address-pools': 'addressPools',
  mtu: 'int',
  ipv6: 'bool',
  'default-runtime': 'string',
  group: 'string',
  'userns-remap': 'string',
  'storage-driver': 'string',
  'default-ulimits': 'ulimits',
  'default-shm-size': 'string',
  'default-ipc-mode': 'string',
  'default-cgroupns-mode': 'string',
  init: 'bool',
  'no-new-privileges': 'bool',
  'shutdown-timeout': 'int',
  'live-restore': 'bool',
  labels: 'strings',
  experimental: 'bool',
  features: 'boolMap',
  builder: 'object',
} as const satisfies Record<string, DirectiveKind>;

export type DaemonDirective = keyof typeof DAEMON_DIRECTIVES;

export function isDaemonDirective(key: string): key is DaemonDirective {
  return Object.prototype.hasOwnProperty.call(DAEMON_DIRECTIVES, key);
}

/** The log drivers the engine has. */
export const LOG_DRIVERS = ['json-file', 'local', 'fluentd', 'syslog', 'none'] as const;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** What is wrong with a value of the right JSON kind, for the directives that take only some values. */
const VALUE_CHECKS: Partial<Record<DaemonDirective, (v: never) => string | undefined>> = {
  'storage-driver': (v: string) =>
    v === 'overlay2' || v === 'overlay'
      ? undefined
      : `"storage-driver": Berth stores images and containers with overlayfs; "${v}" is not available (use overlay2)`,
  ipv6: (v: boolean) => (v ? '"ipv6": Berth has no IPv6 networks yet; leave it false' : undefined),
  'default-ipc-mode': (v: string) =>
    v === 'private' || v === 'shareable'
      ? undefined
      : `"default-ipc-mode": invalid default IPC mode "${v}" (use private or shareable)`,
  'default-cgroupns-mode': (v: string) =>
    v === 'private' || v === 'host'
      ? undefined
      : `"default-cgroupns-mode": invalid default cgroup namespace mode "${v}" (use private or host)`,
  'default-shm-size': (v: string) =>
    parseByteSize(v) === undefined ? `"default-shm-size": "${v}" is not a size such as 64m or 1g` : undefined,
  'max-concurrent-downloads': (v: number) =>
    v >= 1 ? undefined : `"max-concurrent-downloads": must be 1 or more, not ${v}`,
  'max-concurrent-uploads': (v: number) =>
    v >= 1 ? undefined : `"max-concurrent-uploads": must be 1 or more, not ${v}`,
  mtu: (v: number) => (v >= 68 && v <= 65535 ? undefined : `"mtu": must be from 68 to 65535, not ${v}`),
  'shutdown-timeout': (v: number) =>
    v >= 0 ? undefined : `"shutdown-timeout": must be 0 or more seconds, not ${v}`,
  'registry-mirrors': (v: string[]) => {
    const bad = v.find((m) => {
      try {
        const u = new URL(m);
        return !['http:', 'https:'].includes(u.protocol) || (u.pathname !== '/' && u.pathname !== '');
      } catch {
        return true;
      }
    });
    return bad === undefined
      ? undefined
      : `"registry-mirrors": invalid mirror "${bad}": give an http:// or https:// URL with no path`;
  },
  'default-ulimits': (v: Record<string, unknown>) => {
    for (const [name, l] of Object.entries(v)) {
      const u = l as Record<string, unknown>;
      if (!isObject(u) || !Number.isInteger(u.Soft) || !Number.isInteger(u.Hard))
        return `"default-ulimits": "${name}" must be {"Name": "${name}", "Soft": n, "Hard": n}`;
      if ((u.Hard as number) !== -1 && ((u.Soft as number) === -1 || (u.Soft as number) > (u.Hard as number)))
        return `"default-ulimits": "${name}": the soft limit is above the hard limit`;
    }
    return undefined;
  },
  'default-address-pools': (v: unknown[]) => {
    for (const p of v) {
      const pool = p as Record<string, unknown>;
      const m =
        isObject(pool) && typeof pool.base === 'string'
          ? /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(pool.base)
          : null;
      if (!m || !Number.isInteger(pool.size))
        return '"default-address-pools": each pool is {"base": "a.b.c.d/n", "size": m}';
      const prefix = Number(m[2]);
      if (m[1]!.split('.').some((o) => Number(o) > 255) || prefix > 32)
        return `"default-address-pools": "${String(pool.base)}" is not an IPv4 CIDR`;
      if ((pool.size as number) < prefix || (pool.size as number) > 30)
        return `"default-address-pools": size ${String(pool.size)} must be from the base's prefix (${prefix}) to 30`;
    }
    return undefined;
  },
};

/** Bytes in a size such as 64m, 1g, 512k or 1048576 (dockerd's units, powers of 1024); undefined if not one. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) return undefined;
  const power = ['', 'k', 'm', 'g', 't'].indexOf(m[2]!.toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

/** What is wrong with a value for a directive (in plain words), or undefined. */
export function directiveValueError(key: DaemonDirective, value: unknown): string | undefined {
  const kind: DirectiveKind = DAEMON_DIRECTIVES[key];
  const wrongKind = kindError(key, kind, value);
  return wrongKind ?? (VALUE_CHECKS[key] as ((v: unknown) => string | undefined) | undefined)?.(value);
}

function kindError(key: string, kind: DirectiveKind, value: unknown): string | undefined {
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `"${key}" must be a string`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `"${key}" must be true or false`;
    case 'int':
      return Number.isInteger(value) ? undefined : `"${key}" must be a whole number`;
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? undefined
        : `"${key}" must be a list of strings`;
    case 'map':
      return isObject(value) && Object.values(value).every((v) => typeof v === 'string')
        ? undefined
        : `"${key}" must be an object of strings`;
    case 'boolMap':
      return isObject(value) && Object.values(value).every((v) => typeof v === 'boolean')
        ? undefined
        : `"${key}" must be an object of true/false values`;
    case 'object':
    case 'ulimits':
      return isObject(value) ? undefined : `"${key}" must be an object`;
    case 'addressPools':
      return Array.isArray(value) ? undefined : `"${key}" must be a list of {"base", "size"} pools`;
  }
}

/**
 * The daemon.json the engine in the VM starts with: the desktop's log driver and options with the
 * rest of its daemon.json text. Undefined when there is nothing to say (the engine's defaults).
 * The text must have passed validateDaemonJson (common/settings.ts).
 */
export function composeDaemonJson(s: {
  logDriver?: string;
  logOpts?: Record<string, string>;
  daemonJson?: string;
}): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = s.daemonJson?.trim() ? JSON.parse(s.daemonJson) : {};
  if (s.logDriver && s.logDriver !== 'json-file') out['log-driver'] = s.logDriver;
  if (s.logOpts && Object.keys(s.logOpts).length > 0) out['log-opts'] = s.logOpts;
  return Object.keys(out).length > 0 ? out : undefined;
}
