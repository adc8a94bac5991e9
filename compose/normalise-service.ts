// One service of one compose file (already interpolated) → a ServiceDraft.
// Every type error names the key it is about.
import os from 'node:os';
import path from 'node:path';
import type { Lookup } from './interpolate.js';
import type {
  DependencyCondition,
  LifecycleHook,
  PortMapping,
  PullPolicy,
  ServiceBuild,
  ServiceMount,
  ServiceNetwork,
} from './model.js';
import { normaliseFileReferences } from './normalise-file-objects.js';
import { normaliseHostOptions } from './normalise-host-options.js';
import { BUILD_KEYS, BUILD_NOT_YET } from './schema-keys.js';
import type { EnvEntry, EnvFileRef, ServiceDraft } from './service-draft.js';
import { shellWords } from './shell-words.js';
import { parseDuration, parseSize } from './units.js';

export interface NormaliseContext {
  file: string;
  projectDir: string;
  /** Shell first, then .env: for bare KEYs in environment. */
  lookup: Lookup;
  /** Paths (as key lists) whose interpolated value referenced a variable. */
  interpolatedPaths: Set<string>;
  fail(keyPath: (string | number)[], problem: string): never;
}

type Raw = Record<string, unknown>;

export const pathKey = (p: readonly (string | number)[]): string => p.join('\u0000');

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export function normaliseService(name: string, raw: unknown, ctx: NormaliseContext): ServiceDraft {
  const at = (...keys: (string | number)[]) => ['services', name, ...keys];
  if (!isObject(raw)) ctx.fail(at(), 'a service must be a mapping');
  const s: ServiceDraft = { name, environmentEntries: {}, envFiles: [], file: ctx.file };

  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'object') ctx.fail(at(key), 'must be a string');
    return String(v);
  };
  const bool = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    ctx.fail(at(key), 'must be true or false');
  };
  const strList = (key: string): string[] | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x === 'object'))
      ctx.fail(at(key), 'must be a list of strings');
    return v.map(String);
  };
  const command = (key: string): string[] | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') {
      try {
        return shellWords(v);
      } catch (err) {
        ctx.fail(at(key), (err as Error).message);
      }
    }
    if (!Array.isArray(v)) ctx.fail(at(key), 'must be a string or a list of strings');
    return v.map(String);
  };
  const keyValues = (key: string, keyPath = at(key), v: unknown = raw[key]): Record<string, string> => {
    if (v === undefined || v === null) return {};
    const out: Record<string, string> = {};
    if (Array.isArray(v)) {
      for (const item of v) {
        const text = String(item);
        const eq = text.indexOf('=');
        out[eq < 0 ? text : text.slice(0, eq)] = eq < 0 ? '' : text.slice(eq + 1);
      }
      return out;
    }
    if (!isObject(v)) ctx.fail(keyPath, 'must be a mapping or a list of KEY=VALUE');
    for (const [k, val] of Object.entries(v)) out[k] = val === null || val === undefined ? '' : String(val);
    return out;
  };
  const guard = <T>(key: (string | number)[], f: () => T): T => {
    try {
      return f();
    } catch (err) {
      ctx.fail(key, (err as Error).message);
    }
  };

  s.image = str('image');
  if (raw.build !== undefined && raw.build !== null) s.build = build(raw.build, at('build'), ctx);
  const pullPolicy = str('pull_policy');
  if (pullPolicy !== undefined) {
    const policy = pullPolicy === 'if_not_present' ? 'missing' : pullPolicy;
    if (!['always', 'never', 'missing', 'build'].includes(policy))
      ctx.fail(
        at('pull_policy'),
        `"${pullPolicy}" is not one of always, never, missing, if_not_present, build`,
      );
    s.pullPolicy = policy as PullPolicy;
  }
  s.command = command('command');
  s.entrypoint = command('entrypoint');
  s.environmentEntries = environment(raw.environment, at('environment'), ctx);
  s.envFiles = envFiles(raw.env_file, at('env_file'), ctx);
  s.ports = ports(raw.ports, at('ports'), ctx);
  s.expose = strList('expose');
  s.volumes = volumes(raw.volumes, at('volumes'), ctx);
  s.networks = networks(raw.networks, at('networks'), ctx);
  s.dependsOn = dependsOn(raw.depends_on, at('depends_on'), ctx);
  s.restart = str('restart');
  if (s.restart !== undefined && !/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(s.restart)) {
    ctx.fail(at('restart'), `"${s.restart}" is not one of no, always, on-failure[:N], unless-stopped`);
  }
  s.labels = keyValues('labels');
  s.workingDir = str('working_dir');
  s.user = str('user');
  s.hostname = str('hostname');
  s.domainname = str('domainname');
  s.containerName = str('container_name');
  s.tmpfs = strList('tmpfs');
  if (raw.logging !== undefined) {
    if (!isObject(raw.logging)) ctx.fail(at('logging'), 'must be a mapping');
    s.logging = {
      driver: raw.logging.driver === undefined ? undefined : String(raw.logging.driver),
      options: keyValues('options', at('logging', 'options'), raw.logging.options),
    };
  }
  if (raw.deploy !== undefined) {
    if (!isObject(raw.deploy)) ctx.fail(at('deploy'), 'must be a mapping');
    const limits = (raw.deploy.resources as Raw | undefined)?.limits as Raw | undefined;
    if (limits?.cpus !== undefined)
      s.cpus = guard(at('deploy', 'resources', 'limits', 'cpus'), () => cpus(limits.cpus));
    if (limits?.memory !== undefined) {
      s.memory = guard(at('deploy', 'resources', 'limits', 'memory'), () => parseSize(limits.memory));
    }
    if (limits?.pids !== undefined) s.pidsLimit = Number(limits.pids);
    if (raw.deploy.replicas !== undefined) s.scale = Number(raw.deploy.replicas);
  }
  if (raw.cpus !== undefined) s.cpus = guard(at('cpus'), () => cpus(raw.cpus));
  if (raw.mem_limit !== undefined) s.memory = guard(at('mem_limit'), () => parseSize(raw.mem_limit));
  if (raw.scale !== undefined) s.scale = Number(raw.scale);
  if (s.scale !== undefined && !(Number.isInteger(s.scale) && s.scale >= 0))
    ctx.fail(at('scale'), 'must be a whole number');
  if (raw.healthcheck !== undefined) s.healthcheck = healthcheck(raw.healthcheck, at('healthcheck'), ctx);
  s.tty = bool('tty');
  s.stdinOpen = bool('stdin_open');
  s.privileged = bool('privileged');
  s.readOnly = bool('read_only');
  s.init = bool('init');
  s.capAdd = strList('cap_add');
  s.capDrop = strList('cap_drop');
  s.extraHosts = extraHosts(raw.extra_hosts, at('extra_hosts'), ctx);
  s.dns = strList('dns');
  s.stopSignal = str('stop_signal');
  if (raw.stop_grace_period !== undefined) {
    s.stopGracePeriod = guard(at('stop_grace_period'), () => parseDuration(raw.stop_grace_period) / 1e9);
  }
  s.networkMode = str('network_mode');
  s.pid = str('pid');
  s.ipc = str('ipc');
  s.uts = str('uts');
  s.cgroup = str('cgroup');
  // A namespace shared with another service's container needs that container first: an
  // implicit depends_on, as Compose adds it.
  for (const mode of [s.networkMode, s.pid, s.ipc]) {
    if (!mode?.startsWith('service:')) continue;
    const target = mode.slice('service:'.length);
    if (!s.dependsOn?.[target])
      s.dependsOn = { ...s.dependsOn, [target]: { condition: 'service_started', required: true } };
  }
  if (raw.pids_limit !== undefined) s.pidsLimit = Number(raw.pids_limit);
  s.securityOpt = strList('security_opt');
  if (raw.shm_size !== undefined) s.shmSize = guard(at('shm_size'), () => parseSize(raw.shm_size));
  if (raw.sysctls !== undefined) s.sysctls = keyValues('sysctls');
  if (raw.devices !== undefined && raw.devices !== null) s.devices = devices(raw.devices, at('devices'), ctx);
  if (raw.ulimits !== undefined && raw.ulimits !== null) s.ulimits = ulimits(raw.ulimits, at('ulimits'), ctx);
  s.groupAdd = strList('group_add');
  s.profiles = strList('profiles');
  s.secrets = normaliseFileReferences('secrets', raw.secrets, at('secrets'), ctx);
  s.configs = normaliseFileReferences('configs', raw.configs, at('configs'), ctx);
  s.links = strList('links');
  s.externalLinks = strList('external_links');
  s.volumesFrom = strList('volumes_from');
  // A link to a service, or volumes from one, needs that service's container first, as Compose orders it.
  for (const target of Object.values(referencedServices(s)).flat()) {
    if (!s.dependsOn?.[target])
      s.dependsOn = { ...s.dependsOn, [target]: { condition: 'service_started', required: true } };
  }
  s.postStart = hooks(raw.post_start, at('post_start'), ctx);
  s.preStop = hooks(raw.pre_stop, at('pre_stop'), ctx);
  s.attach = bool('attach');
  s.platform = str('platform');
  if (s.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(s.platform))
    ctx.fail(at('platform'), `"${s.platform}" is not os/arch[/variant], such as linux/amd64`);
  s.macAddress = str('mac_address');
  if (s.macAddress !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s.macAddress))
    ctx.fail(at('mac_address'), `"${s.macAddress}" is not a MAC address such as 02:42:ac:11:00:02`);
  s.hostOptions = normaliseHostOptions(raw, at, ctx);
  if (raw.label_file !== undefined && raw.label_file !== null) {
    s.labelFiles = (Array.isArray(raw.label_file) ? raw.label_file : [raw.label_file]).map((f) =>
      path.resolve(ctx.projectDir, String(f)),
    );
  }
  for (const k of Object.keys(s) as (keyof ServiceDraft)[]) if (s[k] === undefined) delete s[k];
  return s;
}

/** The services a service's links and volumes_from name (not container:<name>). */
export function referencedServices(s: Pick<ServiceDraft, 'links' | 'volumesFrom'>): Record<string, string[]> {
  return {
    links: (s.links ?? []).map((l) => l.split(':')[0]),
    volumes_from: (s.volumesFrom ?? [])
      .filter((v) => !v.startsWith('container:'))
      .map((v) => v.replace(/^service:/, '').split(':')[0]),
  };
}

/** post_start / pre_stop: a list of {command, user, privileged, working_dir, environment}. */
function hooks(v: unknown, at: (string | number)[], ctx: NormaliseContext): LifecycleHook[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) ctx.fail(at, 'must be a list of hooks, each with a command');
  return v.map((h, i): LifecycleHook => {
    if (!isObject(h)) ctx.fail([...at, i], 'must be a mapping with a command');
    for (const key of Object.keys(h)) {
      if (!['command', 'user', 'privileged', 'working_dir', 'environment'].includes(key))
        ctx.fail([...at, i, key], `unknown key "${key}"`);
    }
    let command: string[];
    if (typeof h.command === 'string') {
      try {
        command = shellWords(h.command);
      } catch (err) {
        ctx.fail([...at, i, 'command'], (err as Error).message);
      }
    } else if (Array.isArray(h.command) && h.command.length) command = h.command.map(String);
    else ctx.fail([...at, i, 'command'], 'is required: a string or a list of strings');
    const env = environment(h.environment, [...at, i, 'environment'], ctx);
    return {
      command,
      user: h.user === undefined ? undefined : String(h.user),
      privileged: h.privileged === true,
      workingDir: h.working_dir === undefined ? undefined : String(h.working_dir),
      environment: Object.fromEntries(
        Object.entries(env)
          .filter(([, e]) => e.value !== undefined)
          .map(([k, e]) => [k, e.value as string]),
      ),
    };
  });
}

function cpus(v: unknown): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`"${String(v)}" is not a number of CPUs`);
  return n;
}

function environment(v: unknown, at: (string | number)[], ctx: NormaliseContext): Record<string, EnvEntry> {
  const out: Record<string, EnvEntry> = {};
  if (v === undefined || v === null) return out;
  const bare = (key: string): EnvEntry => ({ value: ctx.lookup(key), usedVariables: true });
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item === 'object') ctx.fail([...at, i], 'must be KEY=VALUE or KEY');
      const text = String(item);
      const eq = text.indexOf('=');
      if (eq < 0) out[text] = bare(text);
      else
        out[text.slice(0, eq)] = {
          value: text.slice(eq + 1),
          usedVariables: ctx.interpolatedPaths.has(pathKey([...at, i])),
        };
    });
    return out;
  }
  if (!isObject(v)) ctx.fail(at, 'must be a mapping or a list of KEY=VALUE');
  for (const [key, val] of Object.entries(v)) {
    if (val === null || val === undefined) out[key] = bare(key);
    else if (typeof val === 'object') ctx.fail([...at, key], 'must be a string, a number or a boolean');
    else out[key] = { value: String(val), usedVariables: ctx.interpolatedPaths.has(pathKey([...at, key])) };
  }
  return out;
}

function envFiles(v: unknown, at: (string | number)[], ctx: NormaliseContext): EnvFileRef[] {
  if (v === undefined || v === null) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.map((item, i) => {
    if (typeof item === 'string') return { path: path.resolve(ctx.projectDir, item), required: true };
    if (isObject(item) && typeof item.path === 'string') {
      return { path: path.resolve(ctx.projectDir, item.path), required: item.required !== false };
    }
    ctx.fail([...at, i], 'must be a path or { path, required }');
  });
}

function ports(v: unknown, at: (string | number)[], ctx: NormaliseContext): PortMapping[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) ctx.fail(at, 'must be a list');
  const out: PortMapping[] = [];
  v.forEach((item, i) => {
    if (isObject(item)) {
      const target = Number(item.target);
      if (!Number.isInteger(target)) ctx.fail([...at, i, 'target'], 'must be a port number');
      out.push({
        target,
        published: item.published === undefined ? undefined : String(item.published),
        hostIp: item.host_ip === undefined ? undefined : String(item.host_ip),
        protocol: protocol(item.protocol ?? 'tcp', [...at, i], ctx),
      });
      return;
    }
    const text = String(item);
    // [host_ip:][published:]target[/protocol]; host_ip may be [v6].
    const m = /^(?:(\[[^\]]+\]|[^:]*):)??(?:([\d-]*):)?([\d-]+)(?:\/(\w+))?$/.exec(text);
    if (!m) ctx.fail([...at, i], `"${text}" is not a port mapping like 8080:80, 127.0.0.1:8080:80/udp or 80`);
    const [, hostIp, published, targetText, proto] = m;
    const prot = protocol(proto ?? 'tcp', [...at, i], ctx);
    const [t0, t1] = targetText.split('-').map(Number);
    const targets = t1 === undefined ? [t0] : range(t0, t1);
    const [p0, p1] = published ? published.split('-').map(Number) : [];
    if (p1 !== undefined && p1 - p0 !== targets.length - 1 && targets.length > 1) {
      ctx.fail([...at, i], `"${text}": the published and container port ranges differ in length`);
    }
    targets.forEach((target, k) => {
      if (!Number.isInteger(target) || target < 1 || target > 65535)
        ctx.fail([...at, i], `"${text}": bad port number`);
      let pub: string | undefined;
      if (published) pub = targets.length > 1 ? String(p0 + k) : published;
      out.push({
        target,
        published: pub,
        hostIp: hostIp ? hostIp.replace(/^\[|\]$/g, '') : undefined,
        protocol: prot,
      });
    });
  });
  return out;
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

function protocol(v: unknown, at: (string | number)[], ctx: NormaliseContext): PortMapping['protocol'] {
  const p = String(v).toLowerCase();
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') ctx.fail(at, `"${p}" is not tcp, udp or sctp`);
  return p;
}

function hostPath(source: string, projectDir: string): string {
  if (source === '~' || source.startsWith('~/')) return path.join(os.homedir(), source.slice(1));
  return path.resolve(projectDir, source);
}

const looksLikePath = (s: string) => s.startsWith('.') || s.startsWith('/') || s.startsWith('~');

function volumes(v: unknown, at: (string | number)[], ctx: NormaliseContext): ServiceMount[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) ctx.fail(at, 'must be a list');
  return v.map((item, i): ServiceMount => {
    if (isObject(item)) {
      const type = String(item.type ?? 'volume');
      if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') {
        ctx.fail([...at, i, 'type'], `"${type}" is not volume, bind or tmpfs (others are not supported yet)`);
      }
      if (typeof item.target !== 'string') ctx.fail([...at, i, 'target'], 'is required');
      const source = item.source === undefined ? undefined : String(item.source);
      if (type === 'bind' && !source) ctx.fail([...at, i, 'source'], 'a bind mount needs a source');
      const bind = item.bind as Raw | undefined;
      const vol = item.volume as Raw | undefined;
      const tmpfs = item.tmpfs as Raw | undefined;
      return {
        type,
        source: type === 'bind' ? hostPath(source as string, ctx.projectDir) : source,
        target: item.target,
        readOnly: item.read_only === true,
        createHostPath: bind?.create_host_path !== false,
        noCopy: vol?.nocopy === true ? true : undefined,
        tmpfsSize: tmpfs?.size === undefined ? undefined : parseSize(tmpfs.size),
      };
    }
    const text = String(item);
    const parts = text.split(':');
    if (parts.length > 3 || parts.some((p) => p === ''))
      ctx.fail([...at, i], `"${text}" is not SOURCE:TARGET[:MODE] or TARGET`);
    if (parts.length === 1)
      return { type: 'volume', target: parts[0], readOnly: false, createHostPath: false };
    const [source, target, mode = 'rw'] = parts;
    const modes = mode.split(',');
    if (modes.some((m) => !/^(ro|rw|z|Z|nocopy|shared|slave|private|rshared|rslave|rprivate)$/.test(m))) {
      ctx.fail([...at, i], `"${mode}" is not a volume mode (ro, rw, …)`);
    }
    const bind = looksLikePath(source);
    return {
      type: bind ? 'bind' : 'volume',
      source: bind ? hostPath(source, ctx.projectDir) : source,
      target,
      readOnly: modes.includes('ro'),
      createHostPath: true,
      noCopy: modes.includes('nocopy') ? true : undefined,
    };
  });
}

function networks(
  v: unknown,
  at: (string | number)[],
  ctx: NormaliseContext,
): Record<string, ServiceNetwork> | undefined {
  if (v === undefined || v === null) return undefined;
  const out: Record<string, ServiceNetwork> = {};
  if (Array.isArray(v)) {
    for (const n of v) out[String(n)] = { aliases: [] };
    return out;
  }
  if (!isObject(v)) ctx.fail(at, 'must be a list of network names or a mapping');
  for (const [name, cfg] of Object.entries(v)) {
    if (cfg === null || cfg === undefined) {
      out[name] = { aliases: [] };
      continue;
    }
    if (!isObject(cfg)) ctx.fail([...at, name], 'must be a mapping');
    const aliases = cfg.aliases === undefined ? [] : cfg.aliases;
    if (!Array.isArray(aliases)) ctx.fail([...at, name, 'aliases'], 'must be a list');
    out[name] = {
      aliases: aliases.map(String),
      ipv4Address: cfg.ipv4_address === undefined ? undefined : String(cfg.ipv4_address),
    };
    if (cfg.mac_address !== undefined) out[name].macAddress = String(cfg.mac_address);
  }
  return out;
}

const CONDITIONS = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);

function dependsOn(v: unknown, at: (string | number)[], ctx: NormaliseContext): ServiceDraft['dependsOn'] {
  if (v === undefined || v === null) return undefined;
  const out: NonNullable<ServiceDraft['dependsOn']> = {};
  if (Array.isArray(v)) {
    for (const n of v) out[String(n)] = { condition: 'service_started', required: true };
    return out;
  }
  if (!isObject(v)) ctx.fail(at, 'must be a list of services or a mapping');
  for (const [name, cfg] of Object.entries(v)) {
    const c = isObject(cfg) ? cfg : {};
    const condition = String(c.condition ?? 'service_started');
    if (!CONDITIONS.has(condition)) {
      ctx.fail(
        [...at, name, 'condition'],
        `"${condition}" is not service_started, service_healthy or service_completed_successfully`,
      );
    }
    out[name] = { condition: condition as DependencyCondition, required: c.required !== false };
  }
  return out;
}

function build(v: unknown, at: (string | number)[], ctx: NormaliseContext): ServiceBuild {
  const spec: Raw = typeof v === 'string' ? { context: v } : (v as Raw);
  if (!isObject(spec)) ctx.fail(at, 'must be a path or a mapping');
  for (const key of Object.keys(spec)) {
    if (key.startsWith('x-') || BUILD_KEYS.has(key)) continue;
    if (BUILD_NOT_YET.has(key))
      ctx.fail([...at, key], `"build.${key}" is not supported by berth compose yet`);
    ctx.fail([...at, key], `unknown build key "${key}"`);
  }
  const contextText = spec.context === undefined || spec.context === null ? '.' : String(spec.context);
  if (/^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(contextText))
    ctx.fail([...at, 'context'], 'a remote build context (URL or git) is not supported by berth compose yet');
  const context = path.resolve(ctx.projectDir, contextText);
  const dockerfileText = spec.dockerfile === undefined ? 'Dockerfile' : String(spec.dockerfile);
  const dockerfile = path.relative(context, path.resolve(context, dockerfileText));
  if (dockerfile.startsWith('..') || path.isAbsolute(dockerfile))
    ctx.fail([...at, 'dockerfile'], `${dockerfileText} is outside the build context ${context}`);
  const stringMap = (key: string, fromEnv: boolean): Record<string, string> => {
    const value = spec[key];
    if (value === undefined || value === null) return {};
    const out: Record<string, string> = {};
    const put = (k: string, val: string | undefined) => {
      // A bare KEY (or KEY: with no value) takes the shell's or .env's value, left out when unset.
      const resolved = val ?? (fromEnv ? ctx.lookup(k) : '');
      if (resolved !== undefined) out[k] = resolved;
    };
    if (Array.isArray(value)) {
      for (const item of value) {
        const text = String(item);
        const eq = text.indexOf('=');
        put(eq < 0 ? text : text.slice(0, eq), eq < 0 ? undefined : text.slice(eq + 1));
      }
    } else if (isObject(value)) {
      for (const [k, val] of Object.entries(value)) put(k, val === null ? undefined : String(val));
    } else ctx.fail([...at, key], 'must be a mapping or a list of KEY=VALUE');
    return out;
  };
  const flag = (key: string): boolean => {
    const value = spec[key];
    if (value === undefined || value === null) return false;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    ctx.fail([...at, key], 'must be true or false');
  };
  return {
    context,
    dockerfile,
    args: stringMap('args', true),
    target: spec.target === undefined || spec.target === null ? undefined : String(spec.target),
    labels: stringMap('labels', false),
    noCache: flag('no_cache'),
    pull: flag('pull'),
    imageNamed: false,
  };
}

function healthcheck(
  v: unknown,
  at: (string | number)[],
  ctx: NormaliseContext,
): ServiceDraft['healthcheck'] {
  if (!isObject(v)) ctx.fail(at, 'must be a mapping');
  if (v.disable === true) return { test: ['NONE'] };
  // Without test, the image's HEALTHCHECK runs with the times given here (the engine merges them).
  let test: string[] | undefined;
  if (typeof v.test === 'string') test = ['CMD-SHELL', v.test];
  else if (Array.isArray(v.test) && v.test.length > 0) test = v.test.map(String);
  else if (v.test !== undefined && v.test !== null)
    ctx.fail([...at, 'test'], 'must be a string or a list starting with CMD, CMD-SHELL or NONE');
  if (test && !['CMD', 'CMD-SHELL', 'NONE'].includes(test[0]))
    ctx.fail([...at, 'test'], 'a list must start with CMD, CMD-SHELL or NONE');
  const retries = v.retries === undefined || v.retries === null ? undefined : Number(v.retries);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0))
    ctx.fail([...at, 'retries'], 'must be a whole number, 0 or more');
  const dur = (key: string) => {
    if (v[key] === undefined) return undefined;
    try {
      return parseDuration(v[key]);
    } catch (err) {
      ctx.fail([...at, key], (err as Error).message);
    }
  };
  return {
    test,
    interval: dur('interval'),
    timeout: dur('timeout'),
    startPeriod: dur('start_period'),
    startInterval: dur('start_interval'),
    retries,
  };
}

function extraHosts(v: unknown, at: (string | number)[], ctx: NormaliseContext): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((h) => String(h).replace(/^([^:=]+)=/, '$1:'));
  if (!isObject(v)) ctx.fail(at, 'must be a list or a mapping');
  return Object.entries(v).map(([host, ip]) => `${host}:${String(ip)}`);
}

/** devices: "HOST[:CONTAINER][:PERMISSIONS]" or {source, target, permissions}, as docker run --device. */
function devices(
  v: unknown,
  keyPath: (string | number)[],
  ctx: NormaliseContext,
): NonNullable<ServiceDraft['devices']> {
  if (!Array.isArray(v)) ctx.fail(keyPath, 'must be a list');
  const validMode = (m: string) => /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length;
  return v.map((item, i) => {
    let source: string;
    let target: string | undefined;
    let permissions = 'rwm';
    if (isObject(item)) {
      source = String(item.source ?? '');
      target = item.target === undefined ? undefined : String(item.target);
      if (item.permissions !== undefined) permissions = String(item.permissions);
    } else {
      const parts = String(item).split(':');
      if (parts.length > 3)
        ctx.fail([...keyPath, i], `"${String(item)}" is not HOST[:CONTAINER][:PERMISSIONS]`);
      source = parts[0];
      if (parts.length === 2 && validMode(parts[1])) permissions = parts[1];
      else if (parts.length >= 2) target = parts[1];
      if (parts.length === 3) permissions = parts[2];
    }
    if (!source) ctx.fail([...keyPath, i], 'needs the device path on the host');
    if (!validMode(permissions))
      ctx.fail([...keyPath, i], `permissions "${permissions}" are not a combination of r, w and m`);
    const inContainer = target ?? source;
    if (!inContainer.startsWith('/')) ctx.fail([...keyPath, i], `${inContainer} is not an absolute path`);
    return { PathOnHost: source, PathInContainer: inContainer, CgroupPermissions: permissions };
  });
}

/** ulimits: NAME: N (soft and hard) or NAME: {soft, hard}. */
function ulimits(
  v: unknown,
  keyPath: (string | number)[],
  ctx: NormaliseContext,
): NonNullable<ServiceDraft['ulimits']> {
  if (!isObject(v)) ctx.fail(keyPath, 'must be a mapping of limit names');
  const out: NonNullable<ServiceDraft['ulimits']> = {};
  const int = (x: unknown, at: (string | number)[]) => {
    const n = typeof x === 'number' ? x : typeof x === 'string' && /^-?\d+$/.test(x) ? Number(x) : NaN;
    if (!Number.isSafeInteger(n) || n < -1) ctx.fail(at, 'must be a whole number (-1: unlimited)');
    return n;
  };
  for (const [name, limit] of Object.entries(v)) {
    const at = [...keyPath, name];
    const value = isObject(limit)
      ? { soft: int(limit.soft, [...at, 'soft']), hard: int(limit.hard, [...at, 'hard']) }
      : { soft: int(limit, at), hard: int(limit, at) };
    if (value.hard !== -1 && (value.soft === -1 || value.soft > value.hard))
      ctx.fail(at, `the soft limit ${value.soft} is above the hard limit ${value.hard}`);
    out[name] = value;
  }
  return out;
}
