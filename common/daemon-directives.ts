// The daemon.json directives the engine reads, with the JSON kind of each: one list for the engine
// (guest-agent/daemon-config.ts) and for the desktop's Settings check (common/settings.ts), so a file
// the dashboard accepts is one the engine accepts.

export type DirectiveKind = 'string' | 'bool' | 'strings' | 'map';

export const DAEMON_DIRECTIVES = {
  'log-driver': 'string',
  'log-opts': 'map',
  'log-level': 'string',
  bip: 'string',
  iptables: 'bool',
  'userland-proxy': 'bool',
  'insecure-registries': 'strings',
  dns: 'strings',
  'host-gateway-ip': 'string',
  'default-runtime': 'string',
  group: 'string',
  'userns-remap': 'string',
} as const satisfies Record<string, DirectiveKind>;

export type DaemonDirective = keyof typeof DAEMON_DIRECTIVES;

export function isDaemonDirective(key: string): key is DaemonDirective {
  return Object.prototype.hasOwnProperty.call(DAEMON_DIRECTIVES, key);
}

/** The log drivers the engine has. */
export const LOG_DRIVERS = ['json-file', 'local', 'fluentd', 'none'] as const;

/** What is wrong with a value for a directive (in plain words), or undefined. */
export function directiveValueError(key: DaemonDirective, value: unknown): string | undefined {
  const kind: DirectiveKind = DAEMON_DIRECTIVES[key];
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `"${key}" must be a string`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `"${key}" must be true or false`;
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? undefined
        : `"${key}" must be a list of strings`;
    case 'map':
      return typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.values(value).every((v) => typeof v === 'string')
        ? undefined
        : `"${key}" must be an object of strings`;
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
