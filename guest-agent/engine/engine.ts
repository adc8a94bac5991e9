// The engine: opens its data root (one engine per root), wires the services
// and answers the operations that span several of them.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, EngineError, invalid, notImplemented } from '../errors.js';
import { newId } from '../util/ids.js';
import { log } from '../util/logger.js';
import { run } from '../util/subprocess.js';
import { readJson, writeJsonAtomic } from '../../common/atomic-file.js';
import { ImageStore } from '../storage/image-store.js';
import { RootfsManager } from '../storage/rootfs.js';
import { VolumeStore } from '../volumes/volume-store.js';
import { NetworkService } from '../network/network-service.js';
import { changes as layerChanges } from '../storage/layer-diff.js';
import { chooseRuntime } from '../runtime/runtime-probe.js';
import type { OciRuntime } from '../runtime/oci-runtime.js';
import { readJsonFileLogs } from '../logs/json-file-reader.js';
import { readableLogPath } from '../logs/log-driver.js';
import { NOT_READABLE_MESSAGE, type LogMessage } from '../logs/log-types.js';
import { ContainerStore, type ContainerRecord } from './container-store.js';
import { archiveMounts } from '../volumes/mount-spec.js';
import { volumeView } from '../volumes/volume-view.js';
import type { ContainerMount } from '../volumes/volume-types.js';
import { ContainerService } from './containers.js';
import { ExecService } from './exec.js';
import { HealthMonitor } from './health.js';
import { EventBus } from './events.js';
import { StatsSampler } from './stats.js';
import { ImageService, type CommitOptions } from './images.js';
import { ImageDistribution } from './image-distribution.js';
import { Builder } from './build/builder.js';
import { RegistryConfig } from '../storage/registry/endpoints.js';
import { NO_DEFAULTS, type ContainerDefaults } from './container-defaults.js';
import { LayerSources } from '../storage/registry/layer-sources.js';
import { checkFilterKeys, matchLabels, matchPruneLabels, pruneUntilMs, type Filters } from './filters.js';
import { acquireDataRootLock } from './data-root-lock.js';
import { enginePaths, type EnginePaths } from './paths.js';
import { inspectView, summaryView, type NetworkFacts } from './container-views.js';
import { systemInfo, versionInfo } from './system.js';
import { explainContainer } from './explain.js';
import type { ContainerExplanation } from '../../common/explain.js';

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  runtime?: 'crun' | 'runc';
  logDriver?: string;
  logOpts?: Record<string, string>;
  /** The default bridge's gateway address and prefix (dockerd's --bip). */
  bip?: string;
  iptables?: boolean;
  userlandProxy?: boolean;
  /** See NetworkServiceOptions.forwardIface. */
  forwardIface?: string;
  /** Registries reached without TLS verification or over plain HTTP (hosts or CIDRs). */
  insecureRegistries?: string[];
  /** Resolvers the embedded DNS forwards to (dockerd's --dns); default: the host's. */
  dns?: string[];
  /** What `host-gateway` in --add-host stands for (dockerd's --host-gateway-ip). */
  hostGatewayIp?: string;
  /** Docker Hub pulls try these first (daemon.json registry-mirrors). */
  registryMirrors?: string[];
  /** Layers fetched at once per pull, pushed at once per push (dockerd's defaults: 3 and 5). */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
  /** Where networks' subnets come from (default-address-pools); default dockerd's. */
  addressPools?: { base: string; size: number }[];
  /** The default bridge's MTU. */
  mtu?: number;
  containerDefaults?: ContainerDefaults;
  /** Longest wait, in seconds, for containers to stop at engine shutdown. */
  shutdownTimeout?: number;
  /** Engine labels (docker info). */
  labels?: string[];
  experimental?: boolean;
}

/** Engine-wide settings the services read as they work. */
interface EngineSettings {
  shutdownTimeout?: number;
  labels: string[];
  experimental: boolean;
}

export interface LogsOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  tail?: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  signal?: AbortSignal;
}

export class Engine {
  readonly events = new EventBus();
  readonly containers: ContainerService;
  readonly images: ImageService;
  readonly distribution: ImageDistribution;
  readonly execs: ExecService;
  /** Runs the containers' health checks; it follows their events on its own. */
  private readonly health: HealthMonitor;
  readonly builder: Builder;
  readonly stats: StatsSampler;
  eventListeners = 0;

  private constructor(
    readonly paths: EnginePaths,
    readonly engineId: string,
    readonly runtime: OciRuntime,
    readonly runtimeNote: string | undefined,
    private readonly imageStore: ImageStore,
    private readonly rootfs: RootfsManager,
    readonly volumes: VolumeStore,
    readonly network: NetworkService,
    readonly logDefaults: { Type: string; Config: Record<string, string> },
    private readonly lockFile: string,
    readonly registries: RegistryConfig,
    private readonly settings: EngineSettings,
    transfers: {
      containerDefaults: ContainerDefaults;
      maxConcurrentDownloads?: number;
      maxConcurrentUploads?: number;
    },
  ) {
    const store = new ContainerStore(paths.containersDir);
    this.containers = new ContainerService({
      store,
      images: imageStore,
      rootfs,
      runtime,
      events: this.events,
      paths,
      volumes,
      network,
      defaultLogConfig: logDefaults,
      defaults: transfers.containerDefaults,
    });
    this.images = new ImageService({
      store: imageStore,
      rootfs,
      events: this.events,
      dataRoot: paths.dataRoot,
      containers: () => this.containers.list(),
    });
    this.distribution = new ImageDistribution({
      store: imageStore,
      events: this.events,
      registries,
      sources: new LayerSources(paths.dataRoot),
      maxConcurrentDownloads: transfers.maxConcurrentDownloads,
      maxConcurrentUploads: transfers.maxConcurrentUploads,
    });
    this.execs = new ExecService(this.containers, { rootfs, images: imageStore, runtime });
    this.containers.onRemoved = (id) => this.execs.forget(id);
    this.health = new HealthMonitor({
      containers: this.containers,
      execs: this.execs,
      store,
      events: this.events,
    });
    this.builder = new Builder({
      store: imageStore,
      rootfs,
      containers: this.containers,
      images: this.images,
      distribution: this.distribution,
      dataRoot: paths.dataRoot,
    });
    this.stats = new StatsSampler(this.containers);
    // The network and volume services report their own changes; the bus gives them dockerd's event shape.
    network.onNetworkEvent((e) =>
      this.events.publish('network', e.action, e.networkId, {
        ...(e.containerId ? { container: e.containerId } : {}),
        name: e.name,
        type: e.driver,
      }),
    );
    volumes.onVolumeEvent((e) => this.events.publish('volume', e.action, e.name, e.attributes));
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    const paths = enginePaths(path.resolve(opts.dataRoot), path.resolve(opts.execRoot));
    await fs.mkdir(paths.dataRoot, { recursive: true, mode: 0o710 });
    await fs.mkdir(paths.execRoot, { recursive: true, mode: 0o700 });
    const lockFile = await acquireDataRootLock(paths.dataRoot);
    try {
      const registries = new RegistryConfig(opts.insecureRegistries, opts.registryMirrors);
      const engineId = await loadEngineId(paths.dataRoot);
      const { runtime, note } = await chooseRuntime(opts.runtime, paths.runtimeRoot);
      if (note) log.warn(note);
      log.info('using OCI runtime', { runtime: runtime.name });
      const imageStore = new ImageStore(paths.dataRoot);
      await imageStore.init();
      const rootfs = new RootfsManager(paths.dataRoot);
      runtime.dropCopiesOfMountsUnder([rootfs.mountRoot]);
      const volumes = new VolumeStore(paths.dataRoot);
      await volumes.init();
      const network = new NetworkService({
        stateDir: path.join(paths.dataRoot, 'network'),
        bip: opts.bip,
        iptables: opts.iptables,
        userlandProxy: opts.userlandProxy,
        forwardIface: opts.forwardIface,
        dns: opts.dns,
        hostGatewayIp: opts.hostGatewayIp,
        addressPools: opts.addressPools,
        mtu: opts.mtu,
        spareNetnsDir: path.join(paths.execRoot, 'netns-spare'),
      });
      await network.init();
      const engine = new Engine(
        paths,
        engineId,
        runtime,
        note,
        imageStore,
        rootfs,
        volumes,
        network,
        { Type: opts.logDriver ?? 'json-file', Config: opts.logOpts ?? {} },
        lockFile,
        registries,
        {
          shutdownTimeout: opts.shutdownTimeout,
          labels: opts.labels ?? [],
          experimental: opts.experimental ?? false,
        },
        {
          containerDefaults: opts.containerDefaults ?? NO_DEFAULTS,
          maxConcurrentDownloads: opts.maxConcurrentDownloads,
          maxConcurrentUploads: opts.maxConcurrentUploads,
        },
      );
      await engine.builder.init();
      await engine.containers.reconcile();
      return engine;
    } catch (err) {
      await fs.rm(lockFile, { force: true });
      throw err;
    }
  }

  /** Stop containers, keep state, release the data root. */
  async close(): Promise<void> {
    await this.containers.shutdown(this.settings.shutdownTimeout);
    await this.volumes.shutdown();
    await this.network.shutdown();
    await fs.rm(this.lockFile, { force: true });
  }

  // ---- system ------------------------------------------------------------

  version(): Record<string, unknown> {
    return versionInfo(this.settings.experimental);
  }

  info(): Record<string, unknown> {
    const all = this.containers.list();
    const running = all.filter((c) => c.State.Running).length;
    const paused = all.filter((c) => c.State.Paused).length;
    return systemInfo({
      id: this.engineId,
      containers: { total: all.length, running, paused, stopped: all.length - running - paused },
      images: this.imageStore.list().length,
      dataRoot: this.paths.dataRoot,
      runtime: { name: this.runtime.name, path: this.runtime.binaryPath },
      loggingDriver: this.logDefaults.Type,
      eventListeners: this.eventListeners,
      warnings: this.runtimeNote ? [this.runtimeNote] : [],
      insecureRegistries: this.registries.insecureList,
      registryMirrors: this.registries.mirrorList,
      labels: this.settings.labels,
      experimental: this.settings.experimental,
    });
  }

  // ---- container views ---------------------------------------------------

  async inspectContainer(ref: string, withSize = false): Promise<Record<string, unknown>> {
    const record = this.containers.get(ref);
    const base = path.join(this.paths.dataRoot, 'overlay', record.Id);
    const image = this.imageStore.resolve(record.Image);
    const lowers = image ? this.imageStore.layerDirs(image) : [];
    return inspectView(record, {
      graphDriver: {
        LowerDir: lowers.length ? [...lowers].reverse().join(':') : undefined,
        MergedDir: path.join(base, 'merged'),
        UpperDir: this.rootfs.upperDir(record.Id),
        WorkDir: path.join(base, 'work'),
      },
      execIds: this.execs.idsOf(record.Id),
      netnsPath: this.containers.netnsPathOf(record.Id),
      sizes: withSize ? await this.images.containerSizes(record) : undefined,
      net: this.networkFacts(record),
    });
  }

  /** GET /berth/containers/{id}/explain: how the container is isolated. */
  async explainContainer(ref: string): Promise<ContainerExplanation> {
    const record = this.containers.get(ref);
    const image = this.imageStore.resolve(record.Image);
    const base = path.join(this.paths.dataRoot, 'overlay', record.Id);
    const running = record.State.Running;
    return explainContainer({
      record,
      imageEnv: image?.config.config?.Env ?? [],
      layerDirs: image ? this.imageStore.layerDirs(image) : [],
      rootfs: {
        upperDir: this.rootfs.upperDir(record.Id),
        workDir: path.join(base, 'work'),
        merged: path.join(base, 'merged'),
      },
      endpoints: running ? this.network.endpointsOf(record.Id) : {},
      interfaces: running ? this.network.interfacesOf(record.Id) : {},
      ports: running ? this.network.portsOf(record.Id) : {},
      cgroupRoot: '/sys/fs/cgroup',
      cgroupPath: `/berth/${record.Id}`,
    });
  }

  async listContainers(opts: {
    all: boolean;
    limit?: number;
    size: boolean;
    filters: Filters;
  }): Promise<Array<Record<string, unknown>>> {
    const { filters } = opts;
    checkFilterKeys(filters, [
      'id',
      'name',
      'label',
      'status',
      'ancestor',
      'exited',
      'before',
      'since',
      'network',
      'health',
      'isolation',
      'is-task',
      'volume',
      'expose',
      'publish',
    ]);
    const statuses = filters.get('status') ?? [];
    for (const s of statuses) {
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
        throw invalid(`invalid filter 'status=${s}'`);
      }
    }
    const healths = filters.get('health') ?? [];
    for (const h of healths) {
      if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h))
        throw invalid(`Unrecognised filter value for health: ${h}`);
    }
    const ancestors = (filters.get('ancestor') ?? []).map(
      (a) => this.imageStore.resolve(a)?.id ?? `missing:${a}`,
    );
    let list = this.containers
      .list()
      .filter((c) => {
        const all = opts.all || statuses.length > 0 || filters.has('exited') || opts.limit !== undefined;
        if (!all && !c.State.Running) return false;
        if (statuses.length && !statuses.includes(c.State.Status)) return false;
        const ids = filters.get('id');
        if (ids?.length && !ids.some((i) => c.Id.startsWith(i))) return false;
        const names = filters.get('name');
        if (
          names?.length &&
          !names.some((n) => new RegExp(n).test(c.Name.slice(1)) || new RegExp(n).test(c.Name))
        )
          return false;
        if (!matchLabels(c.Config.Labels, filters.get('label'))) return false;
        if (ancestors.length && !ancestors.includes(c.Image)) return false;
        if (healths.length && !healths.includes(c.State.Health?.Status ?? 'none')) return false;
        const exited = filters.get('exited');
        if (
          exited?.length &&
          (c.State.Running || !exited.includes(String(c.State.ExitCode)) || c.State.Status !== 'exited')
        )
          return false;
        return true;
      })
      .sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    if (opts.limit !== undefined && opts.limit > 0) list = list.slice(0, opts.limit);
    return Promise.all(
      list.map(async (c) =>
        summaryView(c, opts.size ? await this.images.containerSizes(c) : undefined, this.networkFacts(c)),
      ),
    );
  }

  private networkFacts(record: ContainerRecord): NetworkFacts | undefined {
    if (!record.State.Running) return undefined;
    return { endpoints: this.network.endpointsOf(record.Id), ports: this.network.portsOf(record.Id) };
  }

  // ---- logs, top, changes, commit ----------------------------------------

  logs(ref: string, opts: LogsOptions): { tty: boolean; messages: AsyncIterable<LogMessage> } {
    const record = this.containers.get(ref);
    if (!opts.stdout && !opts.stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const logConfig = record.HostConfig.LogConfig;
    const file = readableLogPath(logConfig?.Type ?? 'json-file', logConfig?.Config ?? {}, record.LogPath);
    if (file === undefined) throw notImplemented(NOT_READABLE_MESSAGE);
    const isRunning = () => record.State.Running || record.State.Restarting;
    return {
      tty: record.Config.Tty ?? false,
      messages: readJsonFileLogs(
        file,
        { ...opts, follow: opts.follow && isRunning() },
        {
          isRunning,
          onWrite: (cb) => this.containers.onLogWrite(record.Id, cb),
          onRotate: (cb) => this.containers.onLogRotate(record.Id, cb),
        },
      ),
    };
  }

  async top(ref: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const record = this.containers.get(ref);
    if (!record.State.Running) throw conflict(`Container ${record.Id} is not running`);
    const pidList = (await this.runtime.pids(record.Id)).map(String);
    const pids = new Set(pidList);
    // As dockerd: a column renamed onto PID ("comm=PID") would fool the PID lookup below.
    for (const m of ` ${psArgs}`.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
      if (m[1] !== 'pid') throw invalid(`specifying "${m[1]}=${m[2]}" is not allowed`);
    }
    const args = psArgs.trim() ? psArgs.trim().split(/\s+/) : ['-ef'];
    // The container's pids with -q first, so options that select no processes
    // (`-o pid,comm`) still show them; some options (f) refuse -q: then plain.
    let result = await run('ps', [...args, '-q', pidList.join(',') || '0'], { allowFailure: true });
    if (result.exitCode !== 0) result = await run('ps', args, { allowFailure: true });
    if (result.exitCode !== 0)
      throw new EngineError(
        'internal',
        `ps: ${result.stderr.trim().split('\n')[0] || `exit status ${result.exitCode}`}`,
      );
    const lines = result.stdout.split('\n').filter((l) => l.trim());
    const titles = lines[0]?.trim().split(/\s+/) ?? [];
    const pidColumn = titles.indexOf('PID');
    if (pidColumn < 0) throw new EngineError('internal', "Couldn't find PID field in ps output");
    const processes = lines.slice(1).map((line) => {
      const fields = line.trim().split(/\s+/);
      return [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
    });
    return { Titles: titles, Processes: processes.filter((p) => pids.has(p[pidColumn])) };
  }

  async changes(ref: string): Promise<Array<{ Path: string; Kind: number }>> {
    const record = this.containers.get(ref);
    const image = this.containers.imageOf(record);
    return layerChanges(this.rootfs.upperDir(record.Id), this.imageStore.layerDirs(image));
  }

  async commit(opts: CommitOptions & { container: string }): Promise<string> {
    const record = this.containers.get(opts.container);
    return this.images.commit(record, this.containers.imageOf(record), opts);
  }

  /**
   * A container's files for `docker cp`: the running container's own root
   * (/proc/<pid>/root: its mounts, tmpfs included, as it sees them), or the
   * stopped container's root filesystem mounted for the copy with its binds
   * and volumes honoured. `release` undoes the temporary mount.
   */
  async openContainerFs(ref: string): Promise<{
    record: ContainerRecord;
    root: string;
    mounts: ContainerMount[];
    release: () => Promise<void>;
  }> {
    const record = this.containers.get(ref);
    if (record.State.Running && record.State.Pid > 0) {
      return { record, root: `/proc/${record.State.Pid}/root`, mounts: [], release: async () => {} };
    }
    const merged = await this.rootfs.mount(
      record.Id,
      this.imageStore.layerDirs(this.containers.imageOf(record)),
    );
    return {
      record,
      root: merged,
      mounts: archiveMounts(record.ResolvedMounts ?? []),
      release: async () => {
        if (!record.State.Running) await this.rootfs.unmount(record.Id).catch(() => {});
      },
    };
  }

  /**
   * The container's own root filesystem (image layers plus its changes, no
   * volumes or binds), for `docker export`: mounted for the time of the read
   * when the container is not running.
   */
  async openContainerRootfs(ref: string): Promise<{ root: string; release: () => Promise<void> }> {
    const record = this.containers.get(ref);
    const root = await this.rootfs.mount(
      record.Id,
      this.imageStore.layerDirs(this.containers.imageOf(record)),
    );
    return {
      root,
      release: async () => {
        if (!record.State.Running) await this.rootfs.unmount(record.Id).catch(() => {});
      },
    };
  }

  /** `docker system df`: images, containers and volumes with their sizes. */
  async diskUsage(): Promise<Record<string, unknown>> {
    const images = this.images.list({ filters: new Map(), containersCount: true });
    const containers = await this.listContainers({ all: true, size: true, filters: new Map() });
    const volumes = await Promise.all(
      this.volumes.list().map(async (v) => ({
        ...volumeView(v),
        UsageData: {
          Size: await this.volumes.size(v.Name),
          RefCount: this.containers.volumeUsers(v.Name).length,
        },
      })),
    );
    return {
      LayersSize: this.imageStore.list().reduce((sum, i) => sum + i.size, 0),
      Images: images,
      Containers: containers,
      Volumes: volumes,
      BuildCache: [],
    };
  }

  async pruneContainers(filters: Filters): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const untilMs = until ? pruneUntilMs(until) : undefined;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.containers.list()) {
      if (c.State.Running || c.State.Restarting) continue;
      if (!matchPruneLabels(c.Config.Labels, filters)) continue;
      if (untilMs !== undefined && Date.parse(c.Created) >= untilMs) continue;
      reclaimed += (await this.images.containerSizes(c)).SizeRw;
      await this.containers.remove(c.Id, { force: false });
      deleted.push(c.Id);
    }
    this.events.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }
}

async function loadEngineId(dataRoot: string): Promise<string> {
  const file = path.join(dataRoot, 'engine-id.json');
  const existing = await readJson<{ id: string }>(file);
  if (existing?.id) return existing.id;
  const id = newId().slice(0, 36);
  await writeJsonAtomic(file, { id });
  return id;
}
