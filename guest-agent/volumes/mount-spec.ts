// Everything the CLI can send for mounts (-v/Binds, --mount/Mounts, --tmpfs,
// --volumes-from, image VOLUMEs), validated at container create with
// dockerd's messages, and turned into inspect's Mounts and OCI mounts.
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { invalid } from '../errors.js';
import { log } from '../util/logger.js';
import { copyUpFromRoot } from './copy-up.js';
import { resolveInRoot } from './safe-path.js';
import { validateVolumeName, type VolumeStore } from './volume-store.js';
import type {
  OciMountInput,
  ParsedBind,
  ParsedMount,
  ParsedTmpfs,
  ParsedVolume,
  Propagation,
  ResolvedMount,
} from './volume-types.js';

const RW_MODES = new Set(['rw', 'ro', 'ro-non-recursive', 'ro-force-recursive', 'rro']);
const RO_MODES = new Set(['ro', 'ro-non-recursive', 'ro-force-recursive', 'rro']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATIONS = new Set<string>(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);
const DEFAULT_PROPAGATION: Propagation = 'rprivate';

/** Files under /proc that runc lets a bind cover (lxcfs and friends); anything else under /proc is refused. */
const PROC_ALLOWED = new Set([
  '/proc/cpuinfo',
  '/proc/diskstats',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/swaps',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/slabinfo',
  '/proc/net/dev',
  '/proc/sys/kernel/ns_last_pid',
]);

/** A -v mode string: each part known, at most one of each kind (dockerd's rule). */
function validMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = [0, 0, 0, 0, 0];
  for (const o of mode.split(',')) {
    if (RW_MODES.has(o)) counts[0]!++;
    else if (LABEL_MODES.has(o)) counts[1]!++;
    else if (PROPAGATIONS.has(o)) counts[2]!++;
    else if (COPY_MODES.has(o)) counts[3]!++;
    else if (CONSISTENCY_MODES.has(o)) counts[4]!++;
    else return false;
  }
  return counts.every((c) => c <= 1);
}

/** Why a destination cannot be used, or undefined. Wording as dockerd where dockerd has a rule. */
function destinationProblem(target: string): string | undefined {
  if (target === '') return 'field Target must not be empty';
  if (path.posix.normalize(target) === '/' || /^\/+$/.test(target))
    return "invalid specification: destination can't be '/'";
  if (!target.startsWith('/')) return `invalid mount path: '${target}' mount path must be absolute`;
  if (target.split('/').includes('..'))
    return `invalid mount path: '${target}' mount path must not contain '..'`;
  const clean = cleanPath(target);
  if (clean === '/proc' || clean === '/sys')
    return `invalid mount path: '${target}': mounting over ${clean} is not allowed`;
  if (clean.startsWith('/proc/') && !PROC_ALLOWED.has(clean))
    return `invalid mount path: '${target}': mounting under /proc is not allowed (only files such as /proc/meminfo or /proc/cpuinfo can be covered)`;
  return undefined;
}

function cleanPath(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

// ---- -v / Binds ----------------------------------------------------------------

function parseBindString(raw: string, volumeDriver: string | undefined): ParsedBind | ParsedVolume {
  const spec = () => invalid(`invalid volume specification: '${raw}'`);
  const arr = splitN(raw, ':', 4);
  if (arr[0] === '') throw spec();
  let source = '';
  let target = '';
  let mode = '';
  switch (arr.length) {
    case 1:
      target = arr[0]!;
      break;
    case 2:
      // "/foo:rw" is a destination and a mode, which a volume cannot be.
      if (validMode(arr[1]!)) throw spec();
      source = arr[0]!;
      target = arr[1]!;
      break;
    case 3:
      source = arr[0]!;
      target = arr[1]!;
      mode = arr[2]!;
      break;
    default:
      throw spec();
  }
  if (!validMode(mode)) throw invalid(`invalid mode: ${mode}`);
  const type = source.startsWith('/') ? 'bind' : 'volume';
  const opts = mode === '' ? [] : mode.split(',');
  const ro = opts.some((o) => RO_MODES.has(o));
  const propagation = opts.find((o) => PROPAGATIONS.has(o)) as Propagation | undefined;
  const fail = (msg: string) =>
    invalid(`invalid volume specification: '${raw}': invalid mount config for type "${type}": ${msg}`);

  if (type === 'volume' && propagation) throw fail('field BindOptions must not be specified');
  const problem = destinationProblem(target);
  if (problem) throw fail(problem);
  const destination = cleanPath(target);
  if (type === 'bind') {
    return {
      kind: 'bind',
      source: cleanPath(source),
      destination,
      ro,
      propagation: propagation ?? DEFAULT_PROPAGATION,
      createMissing: true,
      nonRecursive: false,
      recursiveRo: opts.includes('ro-non-recursive')
        ? 'off'
        : opts.some((o) => o === 'ro-force-recursive' || o === 'rro')
          ? 'force'
          : 'auto',
      mode,
    };
  }
  if (source !== '') validateVolumeName(source);
  const vol: ParsedVolume = {
    kind: 'volume',
    name: source === '' ? undefined : source,
    destination,
    ro,
    nocopy: opts.includes('nocopy'),
    mode,
    fromImage: false,
  };
  if (volumeDriver && volumeDriver !== 'local') vol.driver = volumeDriver;
  return vol;
}

function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  if (parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

// ---- --mount / Mounts ------------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function field<T>(
  o: Obj,
  key: string,
  kind: 'string' | 'boolean' | 'number' | 'object',
  where: string,
): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const ok = kind === 'object' ? isObj(v) : typeof v === kind;
  if (!ok)
    throw invalid(
      `invalid type for ${where}.${key}: expected ${kind === 'object' ? 'an object' : `a ${kind}`}`,
    );
  return v as T;
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw invalid(`invalid type for ${where}: expected an object of strings`);
  return { ...(v as Record<string, string>) };
}

function parseMountObject(raw: unknown, index: number): ParsedMount {
  const where = `HostConfig.Mounts[${index}]`;
  if (!isObj(raw)) throw invalid(`invalid type for ${where}: expected an object`);
  const type = field<string>(raw, 'Type', 'string', where) ?? '';
  const source = field<string>(raw, 'Source', 'string', where) ?? '';
  const target = field<string>(raw, 'Target', 'string', where) ?? '';
  const readOnly = field<boolean>(raw, 'ReadOnly', 'boolean', where) ?? false;
  const bindOpts = field<Obj>(raw, 'BindOptions', 'object', where);
  const volumeOpts = field<Obj>(raw, 'VolumeOptions', 'object', where);
  const tmpfsOpts = field<Obj>(raw, 'TmpfsOptions', 'object', where);
  const fail = (msg: string) => invalid(`invalid mount config for type "${type}": ${msg}`);

  // Options of another mount type are refused first, as dockerd does.
  if (type !== 'bind' && bindOpts) throw fail('field BindOptions must not be specified');
  if (type !== 'volume' && volumeOpts) throw fail('field VolumeOptions must not be specified');
  if (type !== 'tmpfs' && tmpfsOpts) throw fail('field TmpfsOptions must not be specified');
  if (type !== 'image' && raw.ImageOptions) throw fail('field ImageOptions must not be specified');
  if (type !== 'cluster' && raw.ClusterOptions) throw fail('field ClusterOptions must not be specified');

  const problem = destinationProblem(target);
  if (problem) throw fail(problem);
  const destination = cleanPath(target);

  switch (type) {
    case 'bind': {
      if (source === '') throw fail('field Source must not be empty');
      const propagation = bindOpts
        ? field<string>(bindOpts, 'Propagation', 'string', `${where}.BindOptions`)
        : undefined;
      if (propagation && !PROPAGATIONS.has(propagation))
        throw fail(`invalid propagation mode: ${propagation}`);
      if (!source.startsWith('/')) throw fail(`invalid mount path: '${source}' mount path must be absolute`);
      const createMountpoint = bindOpts
        ? (field<boolean>(bindOpts, 'CreateMountpoint', 'boolean', `${where}.BindOptions`) ?? false)
        : false;
      const clean = cleanPath(source);
      if (!createMountpoint && !existsSync(clean)) throw fail(`bind source path does not exist: ${source}`);
      return {
        kind: 'bind',
        source: clean,
        destination,
        ro: readOnly,
        propagation: (propagation as Propagation | undefined) || DEFAULT_PROPAGATION,
        createMissing: createMountpoint,
        nonRecursive: bindOpts
          ? (field<boolean>(bindOpts, 'NonRecursive', 'boolean', `${where}.BindOptions`) ?? false)
          : false,
        recursiveRo: bindReadOnlyMode(bindOpts, readOnly, `${where}.BindOptions`, fail),
        mode: '',
      };
    }
    case 'volume': {
      const vw = `${where}.VolumeOptions`;
      const subpath = volumeOpts ? field<string>(volumeOpts, 'Subpath', 'string', vw) : undefined;
      if (subpath) {
        if (source === '') throw fail('must not set Subpath when using anonymous volumes');
        if (subpath.startsWith('/') || subpath.split('/').includes('..'))
          throw fail('subpath must be a relative path within the volume');
      }
      if (source !== '') validateVolumeName(source);
      const driverConfig = volumeOpts ? field<Obj>(volumeOpts, 'DriverConfig', 'object', vw) : undefined;
      const driver = driverConfig
        ? field<string>(driverConfig, 'Name', 'string', `${vw}.DriverConfig`)
        : undefined;
      const driverOpts = driverConfig
        ? stringMap(driverConfig.Options, `${vw}.DriverConfig.Options`)
        : undefined;
      const labels = volumeOpts ? stringMap(volumeOpts.Labels, `${vw}.Labels`) : undefined;
      const vol: ParsedVolume = {
        kind: 'volume',
        name: source === '' ? undefined : source,
        destination,
        ro: readOnly,
        nocopy: volumeOpts ? (field<boolean>(volumeOpts, 'NoCopy', 'boolean', vw) ?? false) : false,
        mode: '',
        fromImage: false,
      };
      if (driver && driver !== 'local') vol.driver = driver;
      if (driverOpts && Object.keys(driverOpts).length > 0) vol.driverOpts = driverOpts;
      if (labels && Object.keys(labels).length > 0) vol.labels = labels;
      if (subpath) vol.subpath = path.posix.normalize(subpath);
      return vol;
    }
    case 'tmpfs': {
      if (source !== '') throw fail('field Source must not be specified');
      const data: string[] = [];
      if (readOnly) data.push('ro');
      if (tmpfsOpts) {
        const tw = `${where}.TmpfsOptions`;
        const mode = field<number>(tmpfsOpts, 'Mode', 'number', tw);
        if (mode) data.push(`mode=${mode.toString(8)}`);
        const size = field<number>(tmpfsOpts, 'SizeBytes', 'number', tw);
        if (size !== undefined && (size < 0 || !Number.isInteger(size)))
          throw fail(`invalid tmpfs size ${size}: it must be a whole number of bytes`);
        if (size) data.push(`size=${size}`);
        const extra = tmpfsOpts.Options;
        if (extra !== undefined && extra !== null) {
          if (!Array.isArray(extra)) throw invalid(`invalid type for ${tw}.Options: expected an array`);
          for (const opt of extra) {
            if (!Array.isArray(opt) || opt.length < 1 || opt.length > 2)
              throw fail('invalid option array length');
            if (opt[0] !== 'exec' && opt[0] !== 'noexec') throw fail(`invalid option: ${String(opt[0])}`);
            data.push(opt.length === 1 ? String(opt[0]) : `${String(opt[0])}=${String(opt[1])}`);
          }
        }
      }
      return { kind: 'tmpfs', destination, options: tmpfsOptions(data, fail), ro: readOnly, listed: true };
    }
    case 'image':
    case 'cluster':
    case 'npipe':
      throw fail(`mount type "${type}" is not supported by this engine; use bind, volume or tmpfs`);
    default:
      throw fail('mount type unknown');
  }
}

// ---- --tmpfs / Tmpfs ----------------------------------------------------------------

/** Mount flags by the bit they set or clear: a later option of the same group wins (dockerd's merge). */
const FLAG_GROUP: Record<string, string> = {
  ro: 'rdonly',
  rw: 'rdonly',
  suid: 'nosuid',
  nosuid: 'nosuid',
  dev: 'nodev',
  nodev: 'nodev',
  exec: 'noexec',
  noexec: 'noexec',
  sync: 'sync',
  async: 'sync',
  dirsync: 'dirsync',
  remount: 'remount',
  mand: 'mand',
  nomand: 'mand',
  atime: 'noatime',
  noatime: 'noatime',
  diratime: 'nodiratime',
  nodiratime: 'nodiratime',
  bind: 'bind',
  rbind: 'rbind',
  unbindable: 'propagation',
  runbindable: 'propagation',
  private: 'propagation',
  rprivate: 'propagation',
  shared: 'propagation',
  rshared: 'propagation',
  slave: 'propagation',
  rslave: 'propagation',
  relatime: 'relatime',
  norelatime: 'relatime',
  strictatime: 'strictatime',
  nostrictatime: 'strictatime',
};
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);
const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * dockerd's defaults (noexec, nosuid, nodev, rprivate) then the user's options,
 * merged so that the last word on each flag or key wins. Sizes become bytes.
 */
function tmpfsOptions(user: string[], fail: (msg: string) => Error): string[] {
  const all = ['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...user.filter((o) => o !== '')];
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const opt = all[i]!;
    if (opt === 'defaults') continue;
    const group = FLAG_GROUP[opt];
    if (group) {
      if (!seen.has(`flag:${group}`)) {
        seen.add(`flag:${group}`);
        out.unshift(opt);
      }
      continue;
    }
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    if (eq < 0 || !TMPFS_DATA.has(key)) throw fail(`invalid tmpfs option ${JSON.stringify(key)}`);
    if (seen.has(`data:${key}`)) continue;
    seen.add(`data:${key}`);
    out.unshift(normalizeTmpfsData(key, opt.slice(eq + 1), fail));
  }
  return out;
}

function normalizeTmpfsData(key: string, value: string, fail: (msg: string) => Error): string {
  switch (key) {
    case 'size': {
      if (/^\d+%$/.test(value)) return `size=${value}`;
      const m = /^(\d+)([kmgt]?)b?$/i.exec(value);
      if (!m) throw fail(`invalid tmpfs size "${value}": use bytes or a k, m, g suffix (e.g. size=64m)`);
      return `size=${Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!}`;
    }
    case 'mode':
      if (!/^[0-7]{1,4}$/.test(value))
        throw fail(`invalid tmpfs mode "${value}": it must be octal (e.g. mode=1777)`);
      return `mode=${value}`;
    case 'uid':
    case 'gid':
    case 'nr_inodes':
    case 'nr_blocks':
      if (!/^\d+[kmg]?$/i.test(value))
        throw fail(`invalid tmpfs option "${key}=${value}": it must be a number`);
      return `${key}=${value}`;
    default:
      return `${key}=${value}`;
  }
}

function parseTmpfsEntry(dest: string, options: string): ParsedTmpfs {
  const problem = destinationProblem(dest);
  if (problem)
    throw invalid(
      problem === 'field Target must not be empty'
        ? "invalid mount path: '' mount path must be absolute"
        : problem,
    );
  const user = options === '' ? [] : options.split(',');
  const fail = (msg: string) => invalid(`invalid tmpfs mount ${dest}: ${msg}`);
  const opts = tmpfsOptions(user, fail);
  return {
    kind: 'tmpfs',
    destination: cleanPath(dest),
    options: opts,
    ro: opts.includes('ro'),
    listed: false,
  };
}

// ---- all of it ------------------------------------------------------------------

export interface MountHostConfig {
  Binds?: string[] | null;
  Mounts?: unknown[] | null;
  Tmpfs?: Record<string, string> | null;
  VolumesFrom?: string[] | null;
  VolumeDriver?: string | null;
}

/**
 * Validate and collect a container's mounts at create time (nothing is
 * created). Later sources override earlier ones at the same destination as in
 * dockerd: `inherited` (from --volumes-from, see inheritedMounts) < Binds and
 * Mounts; image VOLUMEs only fill destinations nobody else took. Two user
 * mounts on one destination are an error.
 */
export function parseMounts(
  hostConfig: MountHostConfig,
  imageVolumes: Record<string, object> | null | undefined,
  inherited: ParsedMount[] = [],
): ParsedMount[] {
  for (const spec of hostConfig.VolumesFrom ?? []) parseVolumesFrom(spec);
  const byDest = new Map<string, ParsedMount>();
  for (const m of inherited) byDest.set(m.destination, m);
  const userDests = new Set<string>();
  const tmpfsDests = new Set(Object.keys(hostConfig.Tmpfs ?? {}).map(cleanPath));
  const duplicate = (dest: string) => invalid(`Duplicate mount point: ${dest}`);

  for (const raw of hostConfig.Binds ?? []) {
    if (typeof raw !== 'string')
      throw invalid('invalid type for HostConfig.Binds: expected an array of strings');
    const m = parseBindString(raw, hostConfig.VolumeDriver ?? undefined);
    if (userDests.has(m.destination) || tmpfsDests.has(m.destination)) throw duplicate(m.destination);
    userDests.add(m.destination);
    byDest.set(m.destination, m);
  }
  (hostConfig.Mounts ?? []).forEach((raw, i) => {
    const m = parseMountObject(raw, i);
    if (userDests.has(m.destination) || tmpfsDests.has(m.destination)) throw duplicate(m.destination);
    userDests.add(m.destination);
    byDest.set(m.destination, m);
  });
  for (const [dest, options] of Object.entries(hostConfig.Tmpfs ?? {})) {
    if (typeof options !== 'string')
      throw invalid(`invalid type for HostConfig.Tmpfs["${dest}"]: expected a string`);
    const m = parseTmpfsEntry(dest, options);
    byDest.set(m.destination, m);
  }
  for (const spec of Object.keys(imageVolumes ?? {})) {
    const problem = destinationProblem(spec);
    if (problem) throw invalid(`invalid volume ${JSON.stringify(spec)} in the image: ${problem}`);
    const destination = cleanPath(spec);
    if (byDest.has(destination)) continue;
    byDest.set(destination, {
      kind: 'volume',
      destination,
      ro: false,
      nocopy: false,
      mode: '',
      fromImage: true,
      ...(hostConfig.VolumeDriver && hostConfig.VolumeDriver !== 'local'
        ? { driver: hostConfig.VolumeDriver }
        : {}),
    });
  }
  return [...byDest.values()];
}

/** One --volumes-from entry: `container[:ro|rw]`. */
export function parseVolumesFrom(spec: string): { container: string; mode: string } {
  if (typeof spec !== 'string' || spec === '')
    throw invalid('volumes-from specification cannot be an empty string');
  const colon = spec.indexOf(':');
  const container = colon < 0 ? spec : spec.slice(0, colon);
  const mode = colon < 0 ? '' : spec.slice(colon + 1);
  if (mode === '') return { container, mode: 'rw' };
  const opts = mode.split(',');
  // Propagation and copy modes come from the other container's mounts, not from here.
  if (!validMode(mode) || opts.some((o) => PROPAGATIONS.has(o) || COPY_MODES.has(o)))
    throw invalid(`invalid mode: ${mode}`);
  return { container, mode };
}

/**
 * What a container gets from --volumes-from: the other container's mounts
 * (its inspect `Mounts`), read-only when it was or when mode says ro, and
 * volumes never copied into again.
 */
export function inheritedMounts(from: ResolvedMount[], mode: string): ParsedMount[] {
  const forceRo = mode.split(',').some((o) => RO_MODES.has(o));
  const out: ParsedMount[] = [];
  for (const m of from) {
    const ro = !m.RW || forceRo;
    if (m.Type === 'bind') {
      out.push({
        kind: 'bind',
        source: m.Source,
        destination: m.Destination,
        ro,
        propagation: (PROPAGATIONS.has(m.Propagation) ? m.Propagation : DEFAULT_PROPAGATION) as Propagation,
        createMissing: false,
        nonRecursive: m.oci.options.includes('bind'),
        recursiveRo: m.oci.options.includes('rro') ? 'force' : ro ? 'auto' : 'off',
        mode: m.Mode,
      });
    } else if (m.Type === 'volume' && m.Name) {
      out.push({
        kind: 'volume',
        name: m.Name,
        destination: m.Destination,
        ro,
        nocopy: true,
        mode: m.Mode,
        fromImage: false,
      });
    } else if (m.Type === 'tmpfs' && m.listed) {
      const options = m.oci.options.filter((o) => o !== 'ro' && o !== 'rw');
      out.push({
        kind: 'tmpfs',
        destination: m.Destination,
        options: ro ? [...options, 'ro'] : options,
        ro,
        listed: true,
      });
    }
  }
  return out;
}

// ---- sources and OCI ---------------------------------------------------------------

/**
 * Make a bind's host source ready at start: -v creates a missing directory
 * (as dockerd does), --mount without CreateMountpoint refuses.
 */
export async function prepareBindSource(m: ParsedBind): Promise<void> {
  try {
    await fs.stat(m.source);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!m.createMissing)
    throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
  await fs.mkdir(m.source, { recursive: true, mode: 0o755 });
}

/** The host path of a volume's Subpath, resolved inside the volume; it must exist. */
export async function volumeSubpathSource(volumeDir: string, subpath: string): Promise<string> {
  const p = await resolveInRoot(volumeDir, subpath, { followFinal: true });
  if (!existsSync(p))
    throw invalid(
      `invalid mount config for type "volume": subpath "${subpath}" does not exist in the volume`,
    );
  return p;
}

/** BindOptions.ReadOnlyNonRecursive / ReadOnlyForceRecursive, checked as dockerd checks them. */
function bindReadOnlyMode(
  bindOpts: Obj | undefined,
  readOnly: boolean,
  where: string,
  fail: (msg: string) => Error,
): 'auto' | 'force' | 'off' {
  const nonRecursive = bindOpts ? field<boolean>(bindOpts, 'ReadOnlyNonRecursive', 'boolean', where) : false;
  const force = bindOpts ? field<boolean>(bindOpts, 'ReadOnlyForceRecursive', 'boolean', where) : false;
  if ((nonRecursive || force) && !readOnly)
    throw fail(`field BindOptions.ReadOnly${force ? 'Force' : 'Non'}Recursive requires ReadOnly to be true`);
  if (nonRecursive && force)
    throw fail(
      'field BindOptions.ReadOnlyForceRecursive cannot be used with BindOptions.ReadOnlyNonRecursive',
    );
  return nonRecursive ? 'off' : force ? 'force' : 'auto';
}

/** The kernel has mount_setattr (Linux 5.12), which recursive read-only mounts need. */
const KERNEL_HAS_RRO = (() => {
  const [major = 0, minor = 0] = os
    .release()
    .split('.')
    .map((n) => parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 12);
})();

/**
 * Whether a read-only bind is read-only all the way down, as with dockerd ≥ 25: by default where the kernel
 * can and the propagation is rprivate (dockerd's condition; otherwise plain `ro`, as before), always when forced.
 */
function recursivelyReadOnly(m: ParsedBind): boolean {
  const mode = m.recursiveRo ?? 'off';
  if (mode === 'off' || m.nonRecursive) return false;
  const possible = KERNEL_HAS_RRO && m.propagation === 'rprivate';
  if (mode === 'force' && !possible) {
    throw invalid(
      m.propagation !== 'rprivate'
        ? `invalid mount config for type "bind": ReadOnlyForceRecursive requires propagation to be rprivate`
        : `invalid mount config for type "bind": recursive read-only mounts need Linux 5.12 or later (this kernel is ${os.release()})`,
    );
  }
  return possible;
}

/** A path that is there and is not a directory (a missing one is made as a directory, as with -v). */
function isNonDirectory(p: string): boolean {
  try {
    return !statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Decide a mount: `source` is the host path for binds (ignored: taken from
 * the parsed bind) and volumes (the volume's mount source, or its subpath),
 * with the volume's name.
 */
export function resolveMount(m: ParsedMount, source?: { path: string; name: string }): ResolvedMount {
  const roOpt = (ro: boolean) => (ro ? ['ro'] : []);
  switch (m.kind) {
    case 'bind':
      return {
        Type: 'bind',
        Source: m.source,
        Destination: m.destination,
        Mode: m.mode,
        RW: !m.ro,
        Propagation: m.propagation,
        listed: true,
        oci: {
          destination: m.destination,
          source: m.source,
          type: 'bind',
          options: [
            m.nonRecursive ? 'bind' : 'rbind',
            m.propagation,
            ...roOpt(m.ro),
            // A file has nothing mounted below it, and crun cannot make a file mount `rro`.
            ...(m.ro && recursivelyReadOnly(m) && !isNonDirectory(m.source) ? ['rro'] : []),
          ],
        },
      };
    case 'volume': {
      if (!source) throw new Error(`the volume mounted at ${m.destination} has no source yet`);
      return {
        Type: 'volume',
        Name: source.name,
        Source: source.path,
        Destination: m.destination,
        Driver: 'local',
        Mode: m.mode || 'z',
        RW: !m.ro,
        Propagation: '',
        listed: true,
        oci: {
          destination: m.destination,
          source: source.path,
          type: 'bind',
          options: ['rbind', DEFAULT_PROPAGATION, ...roOpt(m.ro)],
        },
      };
    }
    case 'tmpfs':
      return {
        Type: 'tmpfs',
        Source: '',
        Destination: m.destination,
        Mode: '',
        RW: !m.ro,
        Propagation: '',
        listed: m.listed,
        oci: { destination: m.destination, source: 'tmpfs', type: 'tmpfs', options: [...m.options] },
      };
  }
}

/** OCI mounts, parents before children (/a before /a/b) so none shadows another. */
export function toOciMounts(mounts: ResolvedMount[]): OciMountInput[] {
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  return mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.Destination) - depth(b.m.Destination) || a.i - b.i)
    .map(({ m }) => ({ ...m.oci, options: [...m.oci.options] }));
}

/** The mounts `docker cp` must honour, from the resolved list. */
export function archiveMounts(
  mounts: ResolvedMount[],
): Array<{ destination: string; source: string; readOnly: boolean }> {
  return mounts
    .filter((m) => m.Type !== 'tmpfs')
    .map((m) => ({ destination: m.Destination, source: m.Source, readOnly: !m.RW }));
}

// ---- the engine's two steps ------------------------------------------------------------

/**
 * At container create: make every volume the mounts name (existing names are
 * reused, anonymous ones get a 64-hex name) and return the mounts with those
 * names filled in, to store with the container. Anonymous volumes made here
 * are removed again if a later one fails.
 */
export async function createVolumes(parsed: ParsedMount[], store: VolumeStore): Promise<ParsedMount[]> {
  const made: string[] = [];
  const out: ParsedMount[] = [];
  try {
    for (const m of parsed) {
      if (m.kind !== 'volume') {
        out.push(m);
        continue;
      }
      const existed = m.name !== undefined && store.has(m.name);
      const v = await store.create(
        { Name: m.name, Driver: m.driver, DriverOpts: m.driverOpts, Labels: m.labels },
        m.name === undefined,
      );
      if (!existed && m.name === undefined) made.push(v.Name);
      out.push({ ...m, name: v.Name });
    }
  } catch (err) {
    for (const name of made) await store.remove(name, { force: true }, () => false).catch(() => {});
    throw err;
  }
  return out;
}

export interface MountSetup {
  /** Inspect's Mounts (filter on `listed`) and, through toOciMounts, the runtime's mounts. */
  mounts: ResolvedMount[];
  /** Give back the volume mounts taken by setup (call when the container stops). */
  release(): Promise<void>;
}

/**
 * At container start, with the rootfs mounted: make missing -v sources, mount
 * option volumes (tmpfs, bind types), fill new empty volumes from the image
 * unless nocopy (`copyUp`: pass true on the first start only, as dockerd
 * copies once, at create), and resolve every mount. On failure everything
 * taken is given back.
 */
export async function setupMounts(
  parsed: ParsedMount[],
  store: VolumeStore,
  rootfs: string,
  opts: {
    copyUp: boolean;
    /** Announces the volume mounts and unmounts as this container's. */
    containerId?: string;
  },
): Promise<MountSetup> {
  const held: Array<{ name: string; announced: boolean }> = [];
  const release = async () => {
    for (const { name, announced } of held.splice(0)) {
      await store
        .release(name, announced ? opts.containerId : undefined)
        .catch((err) => log.warn('could not release a volume', { volume: name, error: String(err) }));
    }
  };
  try {
    const mounts: ResolvedMount[] = [];
    for (const m of parsed) {
      if (m.kind === 'bind') {
        await prepareBindSource(m);
        mounts.push(resolveMount(m));
      } else if (m.kind === 'volume') {
        if (!m.name)
          throw new Error(`the volume at ${m.destination} was not created (call createVolumes first)`);
        const source = await store.mountSource(m.name);
        const hold = { name: m.name, announced: false };
        held.push(hold);
        if (opts.copyUp && !m.nocopy && !m.subpath) await copyUpFromRoot(rootfs, m.destination, source);
        const p = m.subpath ? await volumeSubpathSource(source, m.subpath) : source;
        const resolved = resolveMount(m, { path: p, name: m.name });
        mounts.push(resolved);
        if (opts.containerId) {
          store.announceMount(m.name, {
            containerId: opts.containerId,
            destination: resolved.Destination,
            rw: resolved.RW,
            propagation: resolved.Propagation,
          });
          hold.announced = true;
        }
      } else {
        mounts.push(resolveMount(m));
      }
    }
    return { mounts, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Inspect's `Mounts` as dockerd lists them (no --tmpfs mounts, no engine-only fields). */
export function inspectMounts(mounts: ResolvedMount[]): Array<Omit<ResolvedMount, 'listed' | 'oci'>> {
  return mounts.filter((m) => m.listed).map(({ listed: _listed, oci: _oci, ...shown }) => shown);
}
