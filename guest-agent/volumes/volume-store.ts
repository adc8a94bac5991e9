// Named and anonymous volumes of the `local` driver, kept as dockerd keeps
// them: <dataRoot>/volumes/<name>/_data is what containers mount, with the
// volume's metadata beside it in volume.json (written atomically).
//
// Driver options `type`/`o`/`device` make a volume that is mounted at first
// use (`type=tmpfs device=tmpfs`, `type=none o=bind device=/path`, …) and
// unmounted when its last user releases it, as dockerd's local driver does.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError, conflict, invalid, notFound } from '../errors.js';
import { writeJsonAtomic, readJson, removeStaleTemps } from '../../common/atomic-file.js';
import { newId } from '../util/ids.js';
import { log } from '../util/logger.js';
import { run } from '../util/subprocess.js';
import { mountPoints } from '../util/mountinfo.js';
import { dirSize } from '../storage/layer-diff.js';
import type {
  InUse,
  VolumeCreateRequest,
  VolumeEvent,
  VolumeEventListener,
  VolumePruneReport,
  VolumeRecord,
  VolumeUse,
} from './volume-types.js';
import { remappedRoot } from '../util/id-map.js';

/** The label dockerd puts on volumes it names itself; prune removes only these unless all=true. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

const NAME_CHARS = '[a-zA-Z0-9][a-zA-Z0-9_.-]';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const VALID_OPTS = new Set(['type', 'o', 'device', 'size']);
const REQUIRED_OPTS: Array<[string, string[]]> = [
  ['device', ['type']],
  ['type', ['device']],
  ['o', ['device', 'type']],
];
const META = 'volume.json';
const DATA = '_data';

/** dockerd's local-driver name rule; errors carry the `create NAME:` prefix of dockerd's messages. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) {
    throw invalid(
      `create ${name}: volume name is too short, names should be at least two alphanumeric characters`,
    );
  }
  if (!NAME_RE.test(name)) {
    throw invalid(
      `create ${name}: ${JSON.stringify(name)} includes invalid characters for a local volume name, only ${JSON.stringify(NAME_CHARS)} are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/** An unknown volume driver, worded as dockerd's plugin lookup failure. */
export function unknownDriver(name: string, driver: string): EngineError {
  return notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
}

function validateDriverOpts(name: string, opts: Record<string, string>): void {
  for (const key of Object.keys(opts)) {
    if (!VALID_OPTS.has(key)) throw invalid(`create ${name}: invalid option: ${JSON.stringify(key)}`);
  }
  if ('size' in opts) throw invalid(`create ${name}: quota size requested but no quota support`);
  for (const [opt, needs] of REQUIRED_OPTS) {
    if (!(opt in opts)) continue;
    for (const need of needs) {
      if (!(need in opts)) throw invalid(`create ${name}: missing required option: ${JSON.stringify(need)}`);
    }
  }
}

interface VolumeMeta {
  Name: string;
  Driver: 'local';
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  anonymous: boolean;
}

/** dockerd's CreatedAt: RFC 3339 to the second. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function parseBool(key: string, values: string[]): boolean {
  const set = new Set(values);
  const t = set.has('true') || set.has('1');
  const f = set.has('false') || set.has('0');
  if (set.size !== 1 || (!t && !f)) throw invalid(`invalid filter '${key}=${values.join(',')}'`);
  return t;
}

/** dockerd's filter Match: an exact name, else the value as a regular expression. */
function nameMatches(name: string, patterns: string[]): boolean {
  return patterns.some((p) => {
    if (p === name) return true;
    try {
      return new RegExp(p).test(name);
    } catch {
      return false;
    }
  });
}

/** Every `key` or `key=value` matches the labels (dockerd's MatchKVList). */
function labelsMatch(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, w);
    const k = w.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === w.slice(eq + 1);
  });
}

function refsOf(inUse: InUse, name: string): string[] | undefined {
  const r = inUse(name);
  if (Array.isArray(r)) return r.length > 0 ? r : undefined;
  return r ? [] : undefined;
}

export class VolumeStore {
  /** Real path (mountinfo shows real paths, and mounts are compared with it). */
  private base: string;
  private readonly volumes = new Map<string, VolumeMeta>();
  /** Mounted option volumes and how many users hold them. */
  private readonly active = new Map<string, { count: number; mounted: boolean }>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<VolumeEventListener>();

  constructor(dataRoot: string) {
    this.base = path.join(path.resolve(dataRoot), 'volumes');
  }

  private dir(name: string): string {
    return path.join(this.base, name);
  }

  private dataPath(name: string): string {
    return path.join(this.base, name, DATA);
  }

  /** One operation per volume name at a time. */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.locks.set(name, next);
    try {
      return await next;
    } finally {
      if (this.locks.get(name) === next) this.locks.delete(name);
    }
  }

  /** Volumes created, destroyed, mounted into and unmounted from containers (`docker events`). */
  onVolumeEvent(listener: VolumeEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(action: VolumeEvent['action'], name: string, attributes: Record<string, string>): void {
    for (const l of this.listeners) {
      try {
        l({ action, name, attributes });
      } catch (err) {
        log.warn('volume event listener failed', { error: String(err) });
      }
    }
  }

  private record(meta: VolumeMeta): VolumeRecord {
    return {
      Name: meta.Name,
      Driver: meta.Driver,
      Mountpoint: this.dataPath(meta.Name),
      CreatedAt: meta.CreatedAt,
      Labels: { ...meta.Labels },
      Scope: 'local',
      Options: { ...meta.Options },
      anonymous: meta.anonymous,
    };
  }

  private needsMount(meta: VolumeMeta): boolean {
    return Boolean(meta.Options.type || meta.Options.device);
  }

  async init(): Promise<void> {
    await fs.mkdir(this.base, { recursive: true, mode: 0o701 });
    this.base = await fs.realpath(this.base);
    const mounted = new Set(await mountPoints());
    for (const entry of await fs.readdir(this.base, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = this.dir(entry.name);
      if (entry.name.startsWith('.')) {
        // A removal that was interrupted after its rename: finish it.
        await this.removeTree(dir).catch((err) =>
          log.warn('could not finish removing a volume', { dir, error: String(err) }),
        );
        continue;
      }
      if (!NAME_RE.test(entry.name)) continue;
      await removeStaleTemps(dir);
      let meta = await readJson<VolumeMeta>(path.join(dir, META)).catch(() => undefined);
      if (!meta) {
        // Created before its metadata was written, or by hand: adopt it as a plain volume.
        const st = await fs.stat(path.join(dir, DATA)).catch(() => undefined);
        if (!st?.isDirectory()) continue;
        meta = {
          Name: entry.name,
          Driver: 'local',
          CreatedAt: rfc3339(st.ctime),
          Labels: {},
          Options: {},
          anonymous: false,
        };
      }
      this.volumes.set(entry.name, { ...meta, Name: entry.name });
      // Still mounted from before a restart: known as mounted, used by nobody yet.
      if (this.needsMount(meta) && mounted.has(this.dataPath(entry.name)))
        this.active.set(entry.name, { count: 0, mounted: true });
    }
  }

  async create(req: VolumeCreateRequest, anonymous = false): Promise<VolumeRecord> {
    const named = Boolean(req.Name);
    const name = req.Name || newId();
    const driver = req.Driver || 'local';
    if (driver !== 'local') throw unknownDriver(name, driver);
    validateVolumeName(name);
    const opts = { ...(req.DriverOpts ?? {}) };
    validateDriverOpts(name, opts);
    const created = await this.locked(name, async () => {
      const existing = this.volumes.get(name);
      if (existing) return this.record(existing); // dockerd: creating an existing name returns it
      const isAnonymous = anonymous || !named;
      const labels = { ...(req.Labels ?? {}) };
      if (isAnonymous) labels[ANONYMOUS_LABEL] = '';
      const meta: VolumeMeta = {
        Name: name,
        Driver: 'local',
        CreatedAt: rfc3339(new Date()),
        Labels: labels,
        Options: opts,
        anonymous: isAnonymous,
      };
      await fs.mkdir(this.base, { recursive: true, mode: 0o701 });
      await fs.mkdir(this.dir(name), { recursive: true, mode: 0o701 });
      await fs.mkdir(this.dataPath(name), { recursive: true, mode: 0o755 });
      // Owned by container root, whoever that is on the host (--userns-remap).
      const root = remappedRoot();
      if (root.uid !== 0) await fs.chown(this.dataPath(name), root.uid, root.gid);
      await writeJsonAtomic(path.join(this.dir(name), META), meta);
      this.volumes.set(name, meta);
      log.debug('volume created', { name, anonymous: isAnonymous });
      return this.record(meta);
    });
    // As dockerd, also when the name existed (a container's `-v name:/path` "creates" it again).
    this.emit('create', created.Name, { driver: created.Driver });
    return created;
  }

  get(name: string): VolumeRecord {
    const meta = this.volumes.get(name);
    if (!meta) throw notFound(`get ${name}: no such volume`);
    return this.record(meta);
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  /**
   * Volumes matching the filters (dangling, label, name, driver). `dangling`
   * needs to know which volumes are referenced: pass `inUse` (default: none).
   */
  list(filters?: Map<string, string[]>, inUse: InUse = () => false): VolumeRecord[] {
    const f = filters ?? new Map<string, string[]>();
    for (const key of f.keys()) {
      if (!['dangling', 'label', 'name', 'driver'].includes(key)) throw invalid(`invalid filter '${key}'`);
    }
    const dangling = f.has('dangling') ? parseBool('dangling', f.get('dangling')!) : undefined;
    const out: VolumeRecord[] = [];
    for (const meta of this.volumes.values()) {
      const drivers = f.get('driver');
      if (drivers?.length && !drivers.includes(meta.Driver)) continue;
      const names = f.get('name');
      if (names?.length && !nameMatches(meta.Name, names)) continue;
      const labels = f.get('label');
      if (labels?.length && !labelsMatch(meta.Labels, labels)) continue;
      if (dangling !== undefined && (refsOf(inUse, meta.Name) === undefined) !== dangling) continue;
      out.push(this.record(meta));
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /**
   * Remove a volume and its data. `force` only makes a missing volume no
   * error (dockerd's purge-on-error); a volume in use is never removed.
   */
  async remove(name: string, opts: { force?: boolean }, inUse: InUse): Promise<void> {
    await this.locked(name, async () => {
      const meta = this.volumes.get(name);
      if (!meta) {
        if (opts.force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const refs = refsOf(inUse, name);
      if (refs !== undefined) {
        throw conflict(`remove ${name}: volume is in use${refs.length > 0 ? ` - [${refs.join(', ')}]` : ''}`);
      }
      const act = this.active.get(name);
      if (act && act.count > 0) throw conflict(`remove ${name}: volume is in use`);
      if (act?.mounted) await this.unmountData(name);
      this.active.delete(name);
      await this.removeVolumeDir(name);
      this.volumes.delete(name);
      log.debug('volume removed', { name });
      this.emit('destroy', name, { driver: meta.Driver });
    });
  }

  /**
   * Remove unused volumes: anonymous ones only unless the filter all=true
   * (dockerd ≥ 23), never those with driver options (nothing to reclaim).
   */
  async prune(inUse: InUse, filters?: Map<string, string[]>): Promise<VolumePruneReport> {
    const f = filters ?? new Map<string, string[]>();
    for (const key of f.keys()) {
      if (!['label', 'label!', 'all'].includes(key)) throw invalid(`invalid filter '${key}'`);
    }
    let all = false;
    const allValues = f.get('all');
    if (allValues && allValues.length > 1)
      throw invalid(`invalid filter 'all=[${allValues.join(' ')}]': only one value is expected`);
    if (allValues?.length === 1) {
      const v = allValues[0]!.toLowerCase();
      if (['1', 't', 'true'].includes(v)) all = true;
      else if (!['0', 'f', 'false'].includes(v))
        throw invalid(
          `invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(allValues[0])}: invalid syntax`,
        );
    }
    const report: VolumePruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 };
    for (const meta of [...this.volumes.values()]) {
      if (!all && !(meta.anonymous || ANONYMOUS_LABEL in meta.Labels)) continue;
      if (Object.keys(meta.Options).length > 0) continue;
      const labels = f.get('label');
      if (labels?.length && !labelsMatch(meta.Labels, labels)) continue;
      const notLabels = f.get('label!');
      if (notLabels?.length && labelsMatch(meta.Labels, notLabels)) continue;
      if (refsOf(inUse, meta.Name) !== undefined) continue;
      const size = await dirSize(this.dataPath(meta.Name)).catch(() => 0);
      try {
        await this.remove(meta.Name, {}, inUse);
      } catch (err) {
        log.warn('could not remove volume', { volume: meta.Name, error: String(err) });
        continue;
      }
      report.VolumesDeleted.push(meta.Name);
      report.SpaceReclaimed += size;
    }
    return report;
  }

  /**
   * The host path to bind into a container. A volume with mount options is
   * mounted here on first use; each call must be paired with release().
   */
  async mountSource(name: string): Promise<string> {
    return this.locked(name, async () => {
      const meta = this.volumes.get(name);
      if (!meta) throw notFound(`get ${name}: no such volume`);
      const data = this.dataPath(name);
      if (!this.needsMount(meta)) return data;
      const act = this.active.get(name) ?? { count: 0, mounted: false };
      if (!act.mounted) {
        const o = meta.Options;
        if (!o.device) throw invalid(`mount ${name}: missing device in volume options`);
        const args = ['-t', o.type || 'none'];
        if (o.o) args.push('-o', o.o);
        args.push(o.device, data);
        const r = await run('mount', args, { allowFailure: true });
        if (r.exitCode !== 0) {
          throw new EngineError(
            'internal',
            `error while mounting volume '${data}': failed to mount local volume: ${r.stderr.trim() || `mount exited with ${r.exitCode}`}`,
          );
        }
        act.mounted = true;
      }
      act.count++;
      this.active.set(name, act);
      return data;
    });
  }

  /** A container got the volume at a path: its mount event. */
  announceMount(name: string, use: VolumeUse): void {
    this.emit('mount', name, {
      container: use.containerId,
      destination: use.destination,
      driver: this.volumes.get(name)?.Driver ?? 'local',
      propagation: use.propagation,
      'read/write': String(use.rw),
    });
  }

  /** A user of mountSource() is done: the last one unmounts an option volume. `containerId` announces the unmount. */
  async release(name: string, containerId?: string): Promise<void> {
    if (containerId)
      this.emit('unmount', name, {
        container: containerId,
        driver: this.volumes.get(name)?.Driver ?? 'local',
      });
    await this.locked(name, async () => {
      const act = this.active.get(name);
      if (!act) return;
      act.count = Math.max(0, act.count - 1);
      if (act.count === 0 && act.mounted) {
        await this.unmountData(name);
        act.mounted = false;
      }
    });
  }

  /** Unmount every option volume (engine shutdown). */
  async shutdown(): Promise<void> {
    for (const [name, act] of this.active) {
      if (!act.mounted) continue;
      await this.locked(name, () => this.unmountData(name)).catch((err) =>
        log.warn('could not unmount volume', { volume: name, error: String(err) }),
      );
      act.mounted = false;
      act.count = 0;
    }
  }

  /** Bytes used by a volume's data; -1 for volumes with mount options (dockerd leaves those out). */
  async size(name: string): Promise<number> {
    const meta = this.volumes.get(name);
    if (!meta) throw notFound(`get ${name}: no such volume`);
    if (Object.keys(meta.Options).length > 0) return -1;
    return dirSize(this.dataPath(name));
  }

  private async unmountData(name: string): Promise<void> {
    const data = this.dataPath(name);
    if (!(await mountPoints()).includes(data)) return;
    const r = await run('umount', [data], { allowFailure: true });
    if (r.exitCode !== 0 && (await mountPoints()).includes(data)) {
      throw new EngineError('internal', `could not unmount volume ${name}: ${r.stderr.trim()}`);
    }
  }

  /**
   * Move the volume directory aside (atomic: a crash leaves the volume or
   * nothing), then delete it, never descending into anything mounted.
   */
  private async removeVolumeDir(name: string): Promise<void> {
    const dir = this.dir(name);
    const prefix = `${dir}/`;
    const below = (await mountPoints()).filter((m) => m === dir || m.startsWith(prefix));
    if (below.length > 0) {
      throw new EngineError(
        'internal',
        `cannot remove volume ${name}: ${below.join(', ')} is still mounted; unmount it first`,
      );
    }
    const trash = path.join(this.base, `.${name}-removing-${newId().slice(0, 12)}`);
    try {
      await fs.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await this.removeTree(trash);
  }

  private async removeTree(dir: string): Promise<void> {
    const prefix = `${dir}/`;
    if ((await mountPoints()).some((m) => m === dir || m.startsWith(prefix))) {
      throw new EngineError('internal', `refusing to delete ${dir}: something is mounted below it`);
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
}
