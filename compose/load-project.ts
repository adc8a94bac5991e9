// Loads a compose project: finds and reads the files, interpolates them with
// the shell's variables then .env's, checks every key, merges the files in
// order and resolves what each container will get. Nothing touches the engine.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { includedApplications } from './include.js';
import { startOrder } from './dependency-order.js';
import { readEnvFile } from './dotenv.js';
import { ComposeError } from './errors.js';
import { interpolate, InterpolationError, type Lookup } from './interpolate.js';
import { mergeServiceDrafts } from './merge-services.js';
import type { FileObject, Project, Service, TopLevelNetwork, TopLevelVolume } from './model.js';
import { normaliseFileObject, type FileObjectKind } from './normalise-file-objects.js';
import { pathKey, referencedServices, type NormaliseContext } from './normalise-service.js';
import { isValidProjectName, normaliseProjectName } from './project-name.js';
import {
  NETWORK_KEYS,
  SERVICE_KEYS,
  SERVICE_NOT_YET,
  TOP_LEVEL_KEYS,
  TOP_LEVEL_NOT_YET,
  VOLUME_KEYS,
} from './schema-keys.js';
import type { ServiceDraft } from './service-draft.js';
import { resolveServiceEnvironment } from './service-environment.js';
import { serviceWithExtends, type LoadedFile } from './service-extends.js';
import { readYamlSource, type YamlSource } from './yaml-source.js';

export interface LoadOptions {
  /** -f, in order; none: COMPOSE_FILE, else compose.yaml and its usual other names in cwd. */
  files?: string[];
  /** -p. */
  projectName?: string;
  /** --env-file (replaces the project directory's .env). */
  envFile?: string;
  /** --project-directory; default: the first file's folder. */
  projectDir?: string;
  cwd?: string;
  /** The shell environment; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yml',
  'docker-compose.yaml',
];

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export function loadProject(opts: LoadOptions = {}): Project {
  const cwd = opts.cwd ?? process.cwd();
  const shell = opts.env ?? process.env;
  const files = findFiles(opts, cwd, shell);
  const projectDir = path.resolve(cwd, opts.projectDir ?? path.dirname(files[0]));
  const warnings: string[] = [];

  const envFile = opts.envFile ? path.resolve(cwd, opts.envFile) : path.join(projectDir, '.env');
  const dotenv = new Map<string, string>();
  if (existsSync(envFile)) {
    for (const e of readEnvFile(envFile, (n) => shell[n]))
      if (e.value !== undefined) dotenv.set(e.key, e.value);
  } else if (opts.envFile) {
    throw new ComposeError(`env file ${envFile} not found`);
  }
  const lookup: Lookup = (n) => shell[n] ?? dotenv.get(n);
  const unset = new Set<string>();
  const sources = new Map<string, YamlSource>();
  const parts = readApplication(files, projectDir, lookup, { shell, unset, sources }, []);
  let drafts = parts.drafts;
  const { networkDefs, volumeDefs, fileObjects, nameFromFile } = parts;
  for (const n of unset) warnings.push(`the "${n}" variable is not set; defaulting to a blank string`);

  const rawName =
    opts.projectName ?? shell.COMPOSE_PROJECT_NAME ?? dotenv.get('COMPOSE_PROJECT_NAME') ?? nameFromFile;
  const name = rawName !== undefined ? rawName : normaliseProjectName(path.basename(projectDir));
  if (!isValidProjectName(name)) {
    throw new ComposeError(
      `"${name}" is not a valid project name: use lower case letters, digits, "-" and "_", starting with a letter or digit`,
    );
  }

  const allServices = Object.keys(drafts);
  drafts = activeProfiles(drafts, shell.COMPOSE_PROFILES ?? dotenv.get('COMPOSE_PROFILES'));
  const networks = topLevelNetworks(name, networkDefs);
  const volumes = topLevelVolumes(name, volumeDefs);
  const services: Record<string, Service> = {};
  withLine(sources, () => {
    for (const [svcName, d] of Object.entries(drafts)) {
      for (const [key, targets] of Object.entries(referencedServices(d))) {
        const missing = targets.find((t) => !drafts[t]);
        if (missing)
          throw new ComposeError(`refers to undefined service "${missing}"`, {
            file: d.file,
            key: `services.${svcName}.${key}`,
          });
      }
      services[svcName] = finishService(name, d, { networks, volumes, ...fileObjects }, lookup);
    }
    startOrder(
      Object.fromEntries(
        Object.values(drafts).map((d) => [
          d.name,
          { name: d.name, dependsOn: d.dependsOn ?? {}, file: d.file },
        ]),
      ),
    );
  });
  return {
    name,
    workingDir: projectDir,
    configFiles: files,
    environmentFile: existsSync(envFile) ? envFile : undefined,
    services,
    networks,
    volumes,
    ...fileObjects,
    disabledServices: allServices.filter((s) => !drafts[s]),
    warnings,
  };
}

interface ApplicationParts {
  drafts: Record<string, ServiceDraft>;
  networkDefs: Record<string, { raw: Raw; file: string }>;
  volumeDefs: Record<string, { raw: Raw; file: string }>;
  fileObjects: Record<FileObjectKind, Record<string, FileObject>>;
  nameFromFile?: string;
}

interface ReadState {
  shell: NodeJS.ProcessEnv;
  unset: Set<string>;
  sources: Map<string, YamlSource>;
}

/**
 * An application's files read, checked, interpolated and merged in order into
 * service drafts and top-level definitions, what they include first.
 * `chain`: the applications that include this one, to refuse a cycle.
 */
function readApplication(
  files: string[],
  projectDir: string,
  lookup: Lookup,
  state: ReadState,
  chain: string[],
): ApplicationParts {
  const parts: ApplicationParts = {
    drafts: {},
    networkDefs: {},
    volumeDefs: {},
    fileObjects: { secrets: {}, configs: {} },
  };
  /** Service name → the file that included it: the including files may not define it again. */
  const imported = new Map<string, string>();
  const loaded = new Map<string, LoadedFile>();
  /** A file read, checked and interpolated once; its relative paths are the project's (an -f file) or its own folder's. */
  const load = (file: string, own = false): LoadedFile => {
    // An -f file's relative paths are the project's; the same file reached by extends, its folder's.
    const cacheKey = `${own ? 'own' : 'other'}:${file}`;
    const known = loaded.get(cacheKey);
    if (known) return known;
    if (!existsSync(file)) throw new ComposeError(`compose file ${file} not found`);
    const source = readYamlSource(file);
    state.sources.set(file, source);
    const fail = (keyPath: (string | number)[], problem: string): never => {
      throw new ComposeError(problem, { file, key: keyPath.join('.'), line: source.lineOf(keyPath) });
    };
    const raw = source.data ?? {};
    if (!isObject(raw)) fail([], 'a compose file must be a mapping');
    checkKeys(raw as Raw, fail);
    const interpolatedPaths = new Set<string>();
    const data = interpolateTree(raw, [], lookup, interpolatedPaths, fail, (n) => state.unset.add(n)) as Raw;
    const dir = own ? projectDir : path.dirname(file);
    const ctx: NormaliseContext = { file, projectDir: dir, lookup, interpolatedPaths, fail };
    const result = { data, ctx };
    loaded.set(cacheKey, result);
    return result;
  };
  for (const file of files) {
    const { data, ctx } = load(file, true);
    if (data.name !== undefined) parts.nameFromFile = String(data.name);
    // What a file includes comes first; its own definitions may not clash with it.
    for (const app of includedApplications(data.include, projectDir, state.shell, ctx)) {
      const key = app.files.join(path.delimiter);
      if ([...chain, files.join(path.delimiter)].includes(key))
        ctx.fail(['include'], `include makes a cycle: ${app.files[0]} includes this file again`);
      const sub = readApplication(app.files, app.projectDir, app.lookup, state, [
        ...chain,
        files.join(path.delimiter),
      ]);
      for (const [name, d] of Object.entries(sub.drafts)) {
        if (parts.drafts[name]) ctx.fail(['include'], `${app.files[0]} defines service "${name}" again`);
        parts.drafts[name] = { ...d, lookup: d.lookup ?? app.lookup };
        imported.set(name, app.files[0]);
      }
      for (const kind of ['networkDefs', 'volumeDefs'] as const) {
        for (const [name, def] of Object.entries(sub[kind])) {
          const mine = parts[kind][name];
          if (mine && !isDeepStrictEqual(mine.raw, def.raw))
            ctx.fail(['include'], `${app.files[0]} defines ${kind.slice(0, -4)} "${name}" differently`);
          parts[kind][name] = def;
        }
      }
      for (const kind of ['secrets', 'configs'] as const) {
        for (const [name, def] of Object.entries(sub.fileObjects[kind])) {
          const mine = parts.fileObjects[kind][name];
          if (mine && !isDeepStrictEqual(mine, def))
            ctx.fail(['include'], `${app.files[0]} defines ${kind.slice(0, -1)} "${name}" differently`);
          parts.fileObjects[kind][name] = def;
        }
      }
    }
    for (const name of Object.keys((data.services as Raw | undefined) ?? {})) {
      if (imported.has(name))
        ctx.fail(
          ['services', name],
          `conflicts with the service "${name}" that ${imported.get(name)} defines (included)`,
        );
      // This file as an -f file; another one an extends names, as a file of its own folder.
      const draft = serviceWithExtends(file, name, (f) => load(f, f === file));
      parts.drafts[name] = parts.drafts[name] ? mergeServiceDrafts(parts.drafts[name], draft) : draft;
    }
    for (const kind of ['networks', 'volumes'] as const) {
      const defs = kind === 'networks' ? parts.networkDefs : parts.volumeDefs;
      for (const [key, def] of Object.entries((data[kind] as Raw | undefined) ?? {})) {
        if (def !== null && !isObject(def)) ctx.fail([kind, key], 'must be a mapping');
        defs[key] = { raw: { ...defs[key]?.raw, ...(def ?? {}) }, file };
      }
    }
    for (const kind of ['secrets', 'configs'] as const) {
      for (const [key, def] of Object.entries((data[kind] as Raw | undefined) ?? {})) {
        parts.fileObjects[kind][key] = normaliseFileObject(kind, key, def, ctx);
      }
    }
  }
  return parts;
}

/** Errors found after the files were merged name a file and key; this adds the key's line. */
function withLine(sources: Map<string, YamlSource>, f: () => void): void {
  try {
    f();
  } catch (err) {
    if (err instanceof ComposeError && err.where.file && err.where.key && err.where.line === undefined) {
      const line = sources.get(err.where.file)?.lineOf(err.where.key.split('.'));
      if (line !== undefined) throw new ComposeError(err.problem, { ...err.where, line });
    }
    throw err;
  }
}

function findFiles(opts: LoadOptions, cwd: string, shell: NodeJS.ProcessEnv): string[] {
  const given = opts.files?.length ? opts.files : shell.COMPOSE_FILE?.split(path.delimiter).filter(Boolean);
  if (given?.length) {
    return given.map((f) => {
      const abs = path.resolve(cwd, f);
      if (!existsSync(abs)) throw new ComposeError(`compose file ${abs} not found`);
      return abs;
    });
  }
  const dir = path.resolve(cwd, opts.projectDir ?? '.');
  const found = DEFAULT_FILE_NAMES.map((n) => path.join(dir, n)).find((f) => existsSync(f));
  if (!found)
    throw new ComposeError(
      `no compose file in ${dir} (looked for ${DEFAULT_FILE_NAMES.join(', ')}); name one with -f`,
    );
  const override = found.replace(/\.ya?ml$/, '.override$&');
  return existsSync(override) ? [found, override] : [found];
}

function checkKeys(raw: Raw, fail: NormaliseContext['fail']): void {
  for (const key of Object.keys(raw)) {
    if (key.startsWith('x-') || TOP_LEVEL_KEYS.has(key)) continue;
    if (TOP_LEVEL_NOT_YET.has(key)) fail([key], `top-level "${key}" is not supported by berth compose yet`);
    fail([key], `unknown top-level key "${key}"`);
  }
  if (raw.services !== undefined && raw.services !== null && !isObject(raw.services))
    fail(['services'], 'must be a mapping of service names to services');
  for (const [name, svc] of Object.entries((raw.services as Raw | undefined) ?? {})) {
    if (!isObject(svc)) fail(['services', name], 'a service must be a mapping');
    for (const key of Object.keys(svc)) {
      if (key.startsWith('x-') || SERVICE_KEYS.has(key)) continue;
      if (SERVICE_NOT_YET.has(key))
        fail(['services', name, key], `"${key}" is not supported by berth compose yet`);
      fail(['services', name, key], `unknown service key "${key}"`);
    }
  }
  for (const [kind, allowed] of [
    ['networks', NETWORK_KEYS],
    ['volumes', VOLUME_KEYS],
  ] as const) {
    const defs = raw[kind];
    if (defs === undefined || defs === null) continue;
    if (!isObject(defs)) fail([kind], 'must be a mapping');
    for (const [name, def] of Object.entries(defs)) {
      for (const key of Object.keys(isObject(def) ? def : {})) {
        if (!key.startsWith('x-') && !allowed.has(key)) fail([kind, name, key], `unknown key "${key}"`);
      }
    }
  }
}

function interpolateTree(
  value: unknown,
  at: (string | number)[],
  lookup: Lookup,
  used: Set<string>,
  fail: NormaliseContext['fail'],
  onUnset: (name: string) => void,
): unknown {
  if (typeof value === 'string') {
    try {
      const r = interpolate(value, lookup, onUnset);
      if (r.usedVariables) used.add(pathKey(at));
      return r.value;
    } catch (err) {
      if (err instanceof InterpolationError) fail(at, err.message);
      throw err;
    }
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolateTree(v, [...at, i], lookup, used, fail, onUnset));
  if (isObject(value)) {
    const out: Raw = {};
    for (const [k, v] of Object.entries(value))
      out[k] = interpolateTree(v, [...at, k], lookup, used, fail, onUnset);
    return out;
  }
  return value;
}

function activeProfiles(
  drafts: Record<string, ServiceDraft>,
  profilesVar: string | undefined,
): Record<string, ServiceDraft> {
  const active = new Set(
    (profilesVar ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  );
  return Object.fromEntries(
    Object.entries(drafts).filter(
      ([, d]) => !d.profiles?.length || active.has('*') || d.profiles.some((p) => active.has(p)),
    ),
  );
}

const stringMap = (v: unknown): Record<string, string> => {
  if (Array.isArray(v)) {
    return Object.fromEntries(
      v.map((s) => String(s)).map((s) => [s.split('=')[0], s.slice(s.indexOf('=') + 1)]),
    );
  }
  return Object.fromEntries(Object.entries(isObject(v) ? v : {}).map(([k, val]) => [k, String(val ?? '')]));
};

function topLevelNetworks(
  project: string,
  defs: Record<string, { raw: Raw; file?: string }>,
): Record<string, TopLevelNetwork> {
  const out: Record<string, TopLevelNetwork> = {};
  const all: Record<string, { raw: Raw; file?: string }> = { default: { raw: {} }, ...defs };
  for (const [key, { raw, file = '' }] of Object.entries(all)) {
    const external = raw.external === true || isObject(raw.external);
    out[key] = {
      name: raw.name !== undefined ? String(raw.name) : external ? key : `${project}_${key}`,
      external,
      driver: raw.driver === undefined ? undefined : String(raw.driver),
      driverOpts: stringMap(raw.driver_opts),
      labels: stringMap(raw.labels),
      internal: raw.internal === true,
      attachable: raw.attachable === true,
      enableIpv6: raw.enable_ipv6 === true,
      ipam: raw.ipam === undefined || raw.ipam === null ? undefined : ipamOf(raw.ipam, key, file),
    };
  }
  return out;
}

/** A network's ipam: {driver, config: [{subnet, ip_range, gateway, aux_addresses}], options}. */
function ipamOf(v: unknown, network: string, file: string): TopLevelNetwork['ipam'] {
  const fail = (key: string, problem: string): never => {
    throw new ComposeError(problem, { file, key: `networks.${network}.ipam${key ? `.${key}` : ''}` });
  };
  if (!isObject(v)) fail('', 'must be a mapping');
  const ipam = v as Raw;
  for (const k of Object.keys(ipam))
    if (!['driver', 'config', 'options'].includes(k) && !k.startsWith('x-')) fail(k, `unknown key "${k}"`);
  const config = ipam.config ?? [];
  if (!Array.isArray(config)) fail('config', 'must be a list of {subnet, ip_range, gateway, aux_addresses}');
  return {
    ...(ipam.driver !== undefined ? { Driver: String(ipam.driver) } : {}),
    Config: (config as unknown[]).map((c, i) => {
      if (!isObject(c)) fail(`config.${i}`, 'must be a mapping');
      const entry = c as Raw;
      for (const k of Object.keys(entry))
        if (!['subnet', 'ip_range', 'gateway', 'aux_addresses'].includes(k))
          fail(`config.${i}.${k}`, `unknown key "${k}"`);
      const text = (k: string) => (entry[k] === undefined ? {} : { [k]: String(entry[k]) });
      const {
        subnet,
        ip_range: range,
        gateway,
      } = { ...text('subnet'), ...text('ip_range'), ...text('gateway') } as Record<
        string,
        string | undefined
      >;
      return {
        ...(subnet !== undefined ? { Subnet: subnet } : {}),
        ...(range !== undefined ? { IPRange: range } : {}),
        ...(gateway !== undefined ? { Gateway: gateway } : {}),
        ...(entry.aux_addresses !== undefined ? { AuxiliaryAddresses: stringMap(entry.aux_addresses) } : {}),
      };
    }),
    ...(ipam.options !== undefined ? { Options: stringMap(ipam.options) } : {}),
  };
}

function topLevelVolumes(
  project: string,
  defs: Record<string, { raw: Raw }>,
): Record<string, TopLevelVolume> {
  const out: Record<string, TopLevelVolume> = {};
  for (const [key, { raw }] of Object.entries(defs)) {
    const external = raw.external === true || isObject(raw.external);
    out[key] = {
      name: raw.name !== undefined ? String(raw.name) : external ? key : `${project}_${key}`,
      external,
      driver: raw.driver === undefined ? undefined : String(raw.driver),
      driverOpts: stringMap(raw.driver_opts),
      labels: stringMap(raw.labels),
    };
  }
  return out;
}

interface TopLevel {
  networks: Record<string, TopLevelNetwork>;
  volumes: Record<string, TopLevelVolume>;
  secrets: Record<string, FileObject>;
  configs: Record<string, FileObject>;
}

function finishService(project: string, d: ServiceDraft, top: TopLevel, lookup: Lookup): Service {
  const { networks, volumes } = top;
  const where = (key: string) => ({ file: d.file, key: `services.${d.name}${key ? `.${key}` : ''}` });
  if (!d.image && !d.build) throw new ComposeError('has neither image nor build', where(''));
  const serviceNetworks = d.networkMode ? {} : (d.networks ?? { default: { aliases: [] } });
  for (const n of Object.keys(serviceNetworks)) {
    if (!networks[n]) throw new ComposeError(`refers to undefined network "${n}"`, where('networks'));
  }
  for (const v of d.volumes ?? []) {
    if (v.type === 'volume' && v.source && !volumes[v.source]) {
      throw new ComposeError(
        `refers to undefined volume "${v.source}" (declare it under the top-level volumes)`,
        where('volumes'),
      );
    }
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const ref of d[kind] ?? []) {
      if (!top[kind][ref.source])
        throw new ComposeError(
          `refers to undefined ${kind.slice(0, -1)} "${ref.source}" (declare it under the top-level ${kind})`,
          where(kind),
        );
    }
  }
  const { environmentEntries: _e, envFiles: _f, file: _file, labelFiles, lookup: own, ...rest } = d;
  return {
    ...rest,
    image: d.image ?? `${project}-${d.name}`,
    build: d.build ? { ...d.build, imageNamed: d.image !== undefined } : undefined,
    environment: resolveServiceEnvironment(d, own ?? lookup),
    ports: d.ports ?? [],
    expose: d.expose ?? [],
    volumes: d.volumes ?? [],
    networks: serviceNetworks,
    dependsOn: d.dependsOn ?? {},
    labels: { ...readLabelFiles(labelFiles ?? [], where('label_file')), ...d.labels },
    tmpfs: d.tmpfs ?? [],
    tty: d.tty ?? false,
    stdinOpen: d.stdinOpen ?? false,
    privileged: d.privileged ?? false,
    readOnly: d.readOnly ?? false,
    capAdd: d.capAdd ?? [],
    capDrop: d.capDrop ?? [],
    extraHosts: d.extraHosts ?? [],
    dns: d.dns ?? [],
    securityOpt: d.securityOpt ?? [],
    sysctls: d.sysctls ?? {},
    devices: d.devices ?? [],
    ulimits: d.ulimits ?? {},
    groupAdd: d.groupAdd ?? [],
    profiles: d.profiles ?? [],
    secrets: d.secrets ?? [],
    configs: d.configs ?? [],
    links: d.links ?? [],
    externalLinks: d.externalLinks ?? [],
    volumesFrom: d.volumesFrom ?? [],
    postStart: d.postStart ?? [],
    preStop: d.preStop ?? [],
    attach: d.attach ?? true,
    hostOptions: d.hostOptions ?? {},
  };
}

/** label_file: KEY=VALUE lines, as an env file is written; later files win. */
function readLabelFiles(files: string[], where: { file: string; key: string }): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const file of files) {
    if (!existsSync(file)) throw new ComposeError(`label file ${file} not found`, where);
    for (const e of readEnvFile(file)) labels[e.key] = e.value ?? '';
  }
  return labels;
}
