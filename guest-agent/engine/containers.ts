// The container lifecycle: create, start, stop, kill, wait, attach, remove and
// the restart policies. Storage, runtime, network namespaces and logs are
// services this domain calls; nothing here knows about HTTP.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  ContainerCreateRequest,
  ContainerConfig,
  HostConfig,
  RestartPolicy,
} from '../../common/engine-api.js';
import { ZERO_TIME } from '../../common/engine-api.js';
import {
  EngineError,
  conflict,
  forbidden as forbiddenError,
  invalid,
  notFound,
  notModified,
} from '../errors.js';
import { newId } from '../util/ids.js';
import { log } from '../util/logger.js';
import type { ImageStore } from '../storage/image-store.js';
import type { ImageRecord } from '../storage/image-types.js';
import { familiarReference } from '../storage/reference.js';
import type { RootfsManager } from '../storage/rootfs.js';
import { buildOciSpec, ociResources, validateUlimits, type ContainerSpecInput } from '../runtime/oci-spec.js';
import { effectiveCapabilities } from '../runtime/capabilities.js';
import type { OciRuntime, RuntimeProcess } from '../runtime/oci-runtime.js';
import { resolveUser } from '../runtime/user.js';
import { removeNetns } from '../network/netns.js';
import type { NetworkService } from '../network/network-service.js';
import type { PortMap } from '../network/network-types.js';
import { rewriteResolvConf, writeEtcFiles, type EtcFilesInput } from '../network/etc-files.js';
import { createLogDriver, resolveLogConfig } from '../logs/log-driver.js';
import type { LogDriver, LogMessage, RotatedLogFile } from '../logs/log-types.js';
import { LineSplitter } from '../logs/line-splitter.js';
import { ContainerStore, attachedNetworks, initialState, type ContainerRecord } from './container-store.js';
import { mergeImageEnv, processEnv } from './env.js';
import type { EventBus } from './events.js';
import { generateName, validateName } from './names.js';
import type { EnginePaths } from './paths.js';
import { parseSignal } from './signals.js';
import { StdioHub, type OutputSink, type StreamName } from './stdio-hub.js';
import { validateCreateBody } from './create-validation.js';
import {
  ipcShareable,
  normalizeNamespaceModes,
  parseCgroupnsMode,
  parseIpcMode,
  parsePidMode,
  parseUtsMode,
} from './namespace-modes.js';
import { parseSecurityOptions } from './security-options.js';
import { formatPlatform, parsePlatform, type Platform } from '../storage/registry/manifest.js';
import { withDefaultUlimits, type ContainerDefaults } from './container-defaults.js';
import { checkLinksAllowed, linkEnv, linkHostEntries, parseLink, runningChild, storedLink } from './links.js';
import { createWarnings, rejectUnsupported } from './unsupported-options.js';
import { findInitBinary, NO_INIT_BINARY } from '../runtime/init-binary.js';
import { parseDeviceCgroupRule } from '../runtime/devices.js';
import { applyUserNamespace, checkUsernsMode } from '../runtime/userns-remap.js';
import { idMaps } from '../util/id-map.js';
import { mergeHealthcheck, validateHealthcheck } from './health-config.js';
import { applyUpdate } from './resource-update.js';
import type { VolumeStore } from '../volumes/volume-store.js';
import type { ParsedMount, ResolvedMount } from '../volumes/volume-types.js';
import {
  createVolumes,
  inheritedMounts,
  parseMounts,
  parseVolumesFrom,
  resolveMount,
  setupMounts,
  toOciMounts,
} from '../volumes/mount-spec.js';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

interface Waiter {
  condition: WaitCondition;
  resolve: (result: { StatusCode: number; Error?: { Message: string } }) => void;
}

/** What exists only while the engine runs: the process, its stdio, waiters. */
interface LiveContainer {
  hub: StdioHub;
  process?: RuntimeProcess;
  logDriver?: LogDriver;
  /** Resolves once the current run's exit is fully recorded. */
  exited?: Promise<void>;
  netnsPath?: string;
  ownNetns: boolean;
  /** The run has network endpoints (and maybe published ports) to release. */
  connected: boolean;
  restartTimer?: NodeJS.Timeout;
  restartDelayMs: number;
  removing?: Promise<void>;
  /** Gives back the volumes the current run holds (unmounts option volumes). */
  releaseMounts?: () => Promise<void>;
  waiters: Set<Waiter>;
  logListeners: Set<() => void>;
}

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachHandle {
  tty: boolean;
  /** False when the caller should wait for whenStdinDrained() before writing more. */
  writeStdin(data: Buffer): boolean;
  whenStdinDrained(resume: () => void): void;
  endStdin(): void;
  detach(): void;
}

export interface ContainerServiceDeps {
  store: ContainerStore;
  images: ImageStore;
  rootfs: RootfsManager;
  runtime: OciRuntime;
  events: EventBus;
  paths: EnginePaths;
  volumes: VolumeStore;
  network: NetworkService;
  defaultLogConfig: { Type: string; Config: Record<string, string> };
  /** What containers get from the engine's settings where they say nothing. */
  defaults: ContainerDefaults;
}

const DEFAULT_STOP_TIMEOUT = 10;
const MIN_MEMORY = 6 * 1024 * 1024;
const RESTART_POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'];

export class ContainerService {
  private readonly live = new Map<string, LiveContainer>();
  private shuttingDown = false;
  /** Called after a container is gone (the exec service forgets its instances). */
  onRemoved?: (id: string) => void;

  constructor(private readonly deps: ContainerServiceDeps) {}

  get defaults(): ContainerDefaults {
    return this.deps.defaults;
  }

  // ---- lookups -----------------------------------------------------------

  get(ref: string): ContainerRecord {
    return this.deps.store.get(ref);
  }

  list(): ContainerRecord[] {
    return this.deps.store.all();
  }

  liveOf(id: string): LiveContainer {
    let live = this.live.get(id);
    if (!live) {
      live = {
        hub: new StdioHub(),
        ownNetns: false,
        connected: false,
        restartDelayMs: 100,
        waiters: new Set(),
        logListeners: new Set(),
      };
      this.live.set(id, live);
    }
    return live;
  }

  imageOf(record: ContainerRecord): ImageRecord {
    const image = this.deps.images.resolve(record.Image);
    if (!image)
      throw new EngineError('internal', `image ${record.Image} of container ${record.Id} is missing`);
    return image;
  }

  netnsPathOf(id: string): string | undefined {
    return this.live.get(id)?.netnsPath;
  }

  // ---- create ------------------------------------------------------------

  /** `platform`: the create request's (docker run --platform); the image must be of it. */
  async create(
    name: string | undefined,
    rawBody: unknown,
    platform?: string,
  ): Promise<{ Id: string; Warnings: string[] }> {
    const body = validateCreateBody(rawBody);
    if (!body.Image) throw invalid('config must specify an image');
    const image = this.deps.images.resolve(body.Image);
    if (!image) throw notFound(`No such image: ${familiarReference(body.Image)}`);
    if (platform) checkImagePlatform(body.Image, image.config, parsePlatform(platform));

    const { store } = this.deps;
    let fullName: string;
    if (name) {
      fullName = validateName(name);
      const owner = store.nameTaken(fullName);
      if (owner) {
        throw conflict(
          `Conflict. The container name "${fullName}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
    } else fullName = generateName((n) => store.nameTaken(n) !== undefined);

    const hostConfig = this.normalizeHostConfig(body.HostConfig ?? {}, Boolean(body.Hostname));
    checkUsernsMode(hostConfig.UsernsMode, hostConfig.Privileged ?? false, idMaps(), {
      network: hostConfig.NetworkMode,
      pid: hostConfig.PidMode,
    });
    if (hostConfig.Links?.length) {
      checkLinksAllowed(hostConfig.NetworkMode ?? 'bridge');
      hostConfig.Links = hostConfig.Links.map((spec) => {
        const link = parseLink(spec);
        if (!store.find(link.child)) throw invalid(`could not get container for ${link.child}`);
        return storedLink(link, fullName);
      });
    }
    const id = newId();
    const config = this.mergeConfig(id, body, image);
    // The host's UTS namespace: the container's hostname is the machine's.
    if (parseUtsMode(hostConfig.UTSMode)) config.Hostname = os.hostname();
    const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    if (args.length === 0) throw invalid('no command specified');

    // Mounts are validated before anything exists; volumes are made last.
    const inherited = (hostConfig.VolumesFrom ?? []).flatMap((spec) => {
      const { container, mode } = parseVolumesFrom(spec);
      // A 400, not a 404: the docker CLI takes a 404 from create for a missing image and pulls.
      const source = store.find(container);
      if (!source) throw invalid(`No such container: ${container}`);
      return inheritedMounts(source.ResolvedMounts ?? [], mode);
    });
    const parsedMounts = parseMounts(hostConfig, config.Volumes ?? undefined, inherited);
    // A missing volume plugin is a 404 for `docker volume create`; from create it would make the CLI pull the image.
    const mountPoints = await createVolumes(parsedMounts, this.deps.volumes).catch((err: unknown) => {
      throw err instanceof EngineError && err.kind === 'not-found' ? invalid(err.message) : err;
    });

    const dir = store.dir(id);
    const record: ContainerRecord = {
      Id: id,
      Name: fullName,
      Created: new Date().toISOString(),
      Path: args[0],
      Args: args.slice(1),
      Image: image.id,
      ImageRef: body.Image,
      Config: config,
      HostConfig: hostConfig,
      State: initialState(),
      RestartCount: 0,
      ManuallyStopped: false,
      HasBeenStarted: false,
      LogPath: path.join(dir, `${id}-json.log`),
      ResolvConfPath: path.join(dir, 'resolv.conf'),
      HostnamePath: path.join(dir, 'hostname'),
      HostsPath: path.join(dir, 'hosts'),
      MountPoints: mountPoints,
      ResolvedMounts: this.describeMounts(mountPoints),
      EndpointsConfig: endpointsConfig(body, hostConfig.NetworkMode ?? 'bridge'),
    };
    try {
      await this.deps.rootfs.prepare(id);
      await store.add(record);
    } catch (err) {
      await this.deps.rootfs.remove(id).catch(() => {});
      await store.remove(id).catch(() => {});
      await this.removeAnonymousVolumes(record);
      throw err;
    }
    this.emit(record, 'create');
    return { Id: id, Warnings: createWarnings(hostConfig) };
  }

  private mergeConfig(id: string, body: ContainerCreateRequest, image: ImageRecord): ContainerConfig {
    const img = image.config.config ?? {};
    const userEntrypoint = body.Entrypoint ?? null;
    let entrypoint: string[] | null;
    let cmd: string[] | null;
    if (userEntrypoint !== null) {
      // An entrypoint given by the user resets the image's CMD, as in dockerd.
      entrypoint = userEntrypoint.length === 1 && userEntrypoint[0] === '' ? null : userEntrypoint;
      cmd = body.Cmd && body.Cmd.length > 0 ? body.Cmd : null;
    } else {
      entrypoint = img.Entrypoint && img.Entrypoint.length > 0 ? img.Entrypoint : null;
      cmd = body.Cmd && body.Cmd.length > 0 ? body.Cmd : (img.Cmd ?? null);
    }
    const workingDir = body.WorkingDir || img.WorkingDir || '';
    if (workingDir && !workingDir.startsWith('/')) {
      throw invalid(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
    }
    const hostname = body.Hostname || id.slice(0, 12);
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname))
      throw invalid(`invalid hostname format: ${hostname}`);
    return {
      ...body,
      HostConfig: undefined,
      NetworkingConfig: undefined,
      Hostname: hostname,
      Domainname: body.Domainname ?? '',
      User: body.User || img.User || '',
      AttachStdin: body.AttachStdin ?? false,
      AttachStdout: body.AttachStdout ?? false,
      AttachStderr: body.AttachStderr ?? false,
      Tty: body.Tty ?? false,
      OpenStdin: body.OpenStdin ?? false,
      StdinOnce: body.StdinOnce ?? false,
      Env: mergeImageEnv(body.Env ?? [], img.Env ?? []),
      Cmd: cmd,
      Entrypoint: entrypoint,
      Image: body.Image,
      WorkingDir: workingDir,
      Labels: { ...(img.Labels ?? {}), ...(body.Labels ?? {}) },
      ExposedPorts: { ...(img.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) },
      Volumes: { ...(img.Volumes ?? {}), ...(body.Volumes ?? {}) },
      StopSignal: body.StopSignal || img.StopSignal || undefined,
      Healthcheck: mergeHealthcheck(
        validateHealthcheck(body.Healthcheck),
        validateHealthcheck(img.Healthcheck),
      ),
      Shell: body.Shell?.length ? body.Shell : (img.Shell ?? undefined),
      OnBuild: null,
    };
  }

  private normalizeHostConfig(input: HostConfig, hostnameGiven: boolean): HostConfig {
    const hc: HostConfig = { ...input };
    rejectUnsupported(hc);
    // One runtime per engine (berth-engine --runtime): a container may name it, not another.
    const runtimeName = this.deps.runtime.name;
    const aliases = runtimeName === 'runc' ? ['runc', 'io.containerd.runc.v2'] : [runtimeName];
    if (hc.Runtime && !aliases.includes(hc.Runtime as string))
      throw invalid(`unknown or invalid runtime name: ${String(hc.Runtime)}`);
    // The engine's defaults where the request says nothing, stored as dockerd stores them.
    const defaults = this.deps.defaults;
    hc.IpcMode = hc.IpcMode || defaults.ipcMode;
    hc.CgroupnsMode = hc.CgroupnsMode || defaults.cgroupnsMode;
    if (!hc.ShmSize && defaults.shmSize) hc.ShmSize = defaults.shmSize;
    // A 400, not a 404: the docker CLI takes a 404 from create for a missing image and pulls.
    normalizeNamespaceModes(hc, hostnameGiven, (ref) => {
      if (!this.deps.store.find(ref)) throw invalid(`No such container: ${ref}`);
    });
    parseSecurityOptions(hc.SecurityOpt ?? []); // throws on what dockerd refuses
    if (hc.Init === true && !findInitBinary()) throw new EngineError('internal', NO_INIT_BINARY);
    for (const rule of hc.DeviceCgroupRules ?? []) parseDeviceCgroupRule(rule);
    const swappiness = hc.MemorySwappiness;
    if (
      swappiness !== undefined &&
      swappiness !== null &&
      swappiness !== -1 &&
      !(swappiness >= 0 && swappiness <= 100)
    )
      throw invalid(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
    hc.NetworkMode = !hc.NetworkMode || hc.NetworkMode === 'default' ? 'bridge' : hc.NetworkMode;
    const mode = hc.NetworkMode;
    if (!['bridge', 'none', 'host'].includes(mode) && !mode.startsWith('container:')) {
      hc.NetworkMode = this.deps.network.get(mode).Name; // throws "network x not found"
    }
    if (mode.startsWith('container:') && !this.deps.store.find(mode.slice('container:'.length))) {
      throw invalid(`No such container: ${mode.slice('container:'.length)}`);
    }

    const policy: RestartPolicy = {
      Name: hc.RestartPolicy?.Name || 'no',
      MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0,
    };
    if (!RESTART_POLICIES.includes(policy.Name))
      throw invalid(
        `invalid restart policy: unknown policy '${policy.Name}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'`,
      );
    if ((policy.MaximumRetryCount ?? 0) < 0)
      throw invalid('invalid restart policy: maximum retry count cannot be negative');
    if (policy.Name !== 'on-failure' && (policy.MaximumRetryCount ?? 0) > 0) {
      throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
    }
    hc.RestartPolicy = policy;
    if (hc.AutoRemove && policy.Name !== 'no')
      throw invalid(`can't create 'AutoRemove' container with restart policy`);

    hc.LogConfig = resolveLogConfig(hc.LogConfig, this.deps.defaultLogConfig);

    const memory = hc.Memory ?? 0;
    const swap = hc.MemorySwap ?? 0;
    if (memory < 0) throw invalid('invalid memory limit: must not be negative');
    if (memory > 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
    if (swap > 0 && memory === 0)
      throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (swap > 0 && swap < memory)
      throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    const reservation = hc.MemoryReservation ?? 0;
    if (reservation < 0) throw invalid('invalid memory reservation: must not be negative');
    if (memory > 0 && reservation > memory)
      throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
    const ncpu = os.cpus().length;
    const nano = hc.NanoCpus ?? 0;
    if (nano < 0 || nano > ncpu * 1e9) {
      throw invalid(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
    }
    if (nano > 0 && ((hc.CpuQuota ?? 0) > 0 || (hc.CpuPeriod ?? 0) > 0)) {
      throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    }
    if ((hc.CpuShares ?? 0) < 0) throw invalid('invalid CPU shares: must not be negative');
    effectiveCapabilities(hc.CapAdd ?? [], hc.CapDrop ?? [], hc.Privileged ?? false); // throws on unknown names
    validateUlimits(hc.Ulimits ?? []);
    for (const d of hc.Devices ?? [])
      if (!d.PathOnHost) throw invalid('invalid device mapping: PathOnHost is required');

    return hc;
  }

  /** Mounts with their sources as known before a run (inspect, --volumes-from). */
  private describeMounts(mounts: ParsedMount[]): ResolvedMount[] {
    return mounts.map((m) =>
      m.kind === 'volume' && m.name
        ? resolveMount(m, { path: this.deps.volumes.get(m.name).Mountpoint, name: m.name })
        : resolveMount(m),
    );
  }

  /** Ids of the containers that mount a volume (other than `except`). */
  volumeUsers(name: string, except?: string): string[] {
    return this.list()
      .filter(
        (c) => c.Id !== except && (c.MountPoints ?? []).some((m) => m.kind === 'volume' && m.name === name),
      )
      .map((c) => c.Id);
  }

  /** `docker rm -v` and `--rm`: anonymous volumes go with their container; named ones stay. */
  private async removeAnonymousVolumes(record: ContainerRecord): Promise<void> {
    for (const m of record.MountPoints ?? []) {
      if (m.kind !== 'volume' || !m.name || !this.deps.volumes.has(m.name)) continue;
      if (!this.deps.volumes.get(m.name).anonymous) continue;
      if (this.volumeUsers(m.name, record.Id).length) continue;
      await this.deps.volumes
        .remove(m.name, { force: true }, () => false)
        .catch((err) =>
          log.warn('removing an anonymous volume failed', { volume: m.name, error: String(err) }),
        );
    }
  }

  // ---- start -------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const record = this.get(ref);
    if (record.State.Running) throw notModified();
    const live = this.liveOf(record.Id);
    if (live.removing) throw conflict(`container ${record.Id} is marked for removal and cannot be started`);
    if (live.restartTimer) {
      clearTimeout(live.restartTimer);
      live.restartTimer = undefined;
    }
    record.ManuallyStopped = false;
    await this.launch(record);
  }

  private async launch(record: ContainerRecord): Promise<void> {
    const { id, live } = { id: record.Id, live: this.liveOf(record.Id) };
    const { rootfs, runtime, paths } = this.deps;
    const hc = record.HostConfig;
    const config = record.Config;
    const bundleDir = path.join(paths.bundlesDir, id);
    let mounted = false;
    let shmMounted = false;
    let privateNetns = false;
    try {
      const links = (hc.Links ?? []).map((spec) => {
        const link = parseLink(spec);
        return { link, child: runningChild(link, this.deps.store.find(link.child), record.Name) };
      });
      const image = this.imageOf(record);
      // The root filesystem and the network namespace are independent: make both at once.
      const [mountResult, networkResult] = await Promise.allSettled([
        rootfs.mount(id, this.deps.images.layerDirs(image)),
        this.setupNetwork(record, live),
      ]);
      mounted = mountResult.status === 'fulfilled';
      if (mountResult.status === 'rejected') throw mountResult.reason;
      if (networkResult.status === 'rejected') throw networkResult.reason;
      const merged = mountResult.value;
      const network = networkResult.value;
      privateNetns = network.mode === 'private';
      const mountSetup = await setupMounts(record.MountPoints ?? [], this.deps.volumes, merged, {
        copyUp: !record.HasBeenStarted,
        containerId: id,
      });
      live.releaseMounts = mountSetup.release;
      record.ResolvedMounts = mountSetup.mounts;
      // A container in another's network namespace uses that one's hostname and
      // /etc files, as with dockerd: its resolver and names are the other's.
      const joined = 'joined' in network ? network.joined : undefined;
      const etcOwner = joined ?? record;
      const linked = links.map(({ link, child }) => ({
        link,
        child,
        ip: this.addressForLink(record, child),
      }));
      if (!joined) {
        const input = this.etcFilesInput(
          record,
          network.mode === 'host',
          'ip' in network ? network.ip : undefined,
        );
        input.extraHosts = [
          ...linked.flatMap(({ link, child, ip }) => (ip ? linkHostEntries(link, child, ip) : [])),
          ...(input.extraHosts ?? []),
        ];
        await writeEtcFiles(
          { hostname: record.HostnamePath, hosts: record.HostsPath, resolv: record.ResolvConfPath },
          input,
        );
      }
      // dockerd sets the link variables on the default bridge only; the container's own Env wins.
      const linkVariables =
        hc.NetworkMode === 'bridge'
          ? linked.flatMap(({ link, child, ip }) => (ip ? linkEnv(link, record.Name, child, ip) : []))
          : [];
      const user = await resolveUser(merged, config.User, hc.GroupAdd ?? []);
      const shared = await this.sharedNamespaces(record);
      shmMounted = shared.ipc?.mode === 'shareable';
      const security = parseSecurityOptions(hc.SecurityOpt ?? [], this.deps.defaults);
      // Init: true or false as the container says; unset, as the engine's "init" says.
      const withInit = hc.Init ?? this.deps.defaults.init;
      const initPath = withInit ? findInitBinary() : undefined;
      if (withInit && !initPath) throw new EngineError('internal', NO_INIT_BINARY);
      const spec = buildOciSpec({
        id,
        rootfsPath: merged,
        args: [record.Path, ...record.Args],
        env: processEnv(
          [...linkVariables, ...(config.Env ?? [])],
          (joined ? joined.Config.Hostname : config.Hostname) ?? '',
          config.Tty ?? false,
        ),
        cwd: config.WorkingDir || '/',
        user,
        hostname: joined
          ? (joined.Config.Hostname ?? joined.Id.slice(0, 12))
          : (config.Hostname ?? id.slice(0, 12)),
        domainname: config.Domainname || undefined,
        tty: config.Tty ?? false,
        readonlyRootfs: hc.ReadonlyRootfs ?? false,
        privileged: hc.Privileged ?? false,
        capAdd: hc.CapAdd ?? [],
        capDrop: hc.CapDrop ?? [],
        resources: resourcesOf(hc),
        network,
        mounts: [
          {
            destination: '/etc/resolv.conf',
            source: etcOwner.ResolvConfPath,
            type: 'bind',
            options: ['rbind', 'rprivate'],
          },
          {
            destination: '/etc/hostname',
            source: etcOwner.HostnamePath,
            type: 'bind',
            options: ['rbind', 'rprivate'],
          },
          {
            destination: '/etc/hosts',
            source: etcOwner.HostsPath,
            type: 'bind',
            options: ['rbind', 'rprivate'],
          },
          ...toOciMounts(mountSetup.mounts),
        ],
        cgroupsPath: `/berth/${id}`,
        noNewPrivileges: security.noNewPrivileges,
        seccomp: security.seccomp,
        writableCgroups: security.writableCgroups,
        maskedPaths: hc.MaskedPaths ?? undefined,
        readonlyPaths: hc.ReadonlyPaths ?? undefined,
        shmSize: hc.ShmSize || undefined,
        oomScoreAdj: hc.OomScoreAdj || undefined,
        sysctls: hc.Sysctls ?? undefined,
        devices: hc.Devices ?? undefined,
        deviceCgroupRules: (hc.DeviceCgroupRules ?? []).map(parseDeviceCgroupRule),
        ulimits: withDefaultUlimits(hc.Ulimits, this.deps.defaults),
        annotations: hc.Annotations ?? undefined,
        initPath,
        ...shared,
      });
      const remap = idMaps();
      if (remap && hc.UsernsMode !== 'host') applyUserNamespace(spec, remap);
      await fs.mkdir(bundleDir, { recursive: true, mode: 0o700 });
      const [rows, cols] = hc.ConsoleSize ?? [0, 0];
      // The runtime sizes the container's terminal before the process starts; a
      // later resize alone would race with a process that reads its size at once.
      if (config.Tty && rows > 0 && cols > 0) spec.process.consoleSize = { height: rows, width: cols };
      await runtime.writeConfig(bundleDir, spec);
      live.logDriver = await createLogDriver(hc.LogConfig?.Type ?? 'json-file', hc.LogConfig?.Config ?? {}, {
        containerId: id,
        logPath: record.LogPath,
        container: {
          id,
          name: record.Name,
          imageId: record.Image,
          imageName: config.Image ?? record.ImageRef,
          entrypoint: record.Path,
          args: record.Args,
          env: config.Env ?? [],
          labels: config.Labels ?? {},
        },
      });
      live.process = await runtime.start(id, bundleDir, {
        tty: config.Tty ?? false,
        stdin: config.OpenStdin ?? false,
        cols: cols || undefined,
        rows: rows || undefined,
      });
    } catch (err) {
      await live.logDriver?.close().catch(() => {});
      live.logDriver = undefined;
      await runtime.delete(id, true).catch(() => {});
      await this.teardownNetwork(id, live);
      await live.releaseMounts?.();
      live.releaseMounts = undefined;
      if (mounted || shmMounted) await rootfs.unmount(id).catch(() => {});
      let message = err instanceof Error ? err.message : String(err);
      let failure = err;
      if (/error mounting .* not a directory/i.test(message)) {
        // dockerd's hint for a file mounted over a directory, or the reverse.
        message += `: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type`;
        failure = new EngineError(err instanceof EngineError ? err.kind : 'invalid', message);
      }
      record.State.Error = message;
      record.State.ExitCode = /executable file not found|no such file or directory/i.test(message)
        ? 127
        : /permission denied/i.test(message)
          ? 126
          : 128;
      await this.deps.store.save(record);
      // The CLI waits for removal of a --rm container whose start failed, as dockerd removes it.
      if (record.HostConfig.AutoRemove) await this.remove(record.Id, { force: true }).catch(() => {});
      if (failure instanceof EngineError) throw failure;
      throw new EngineError('internal', message);
    }

    const proc = live.process;
    const state = record.State;
    state.Status = 'running';
    state.Running = true;
    state.Restarting = false;
    state.Paused = false;
    state.Dead = false;
    state.OOMKilled = false;
    state.Error = '';
    state.ExitCode = 0;
    state.Pid = proc.containerPid ?? (await runtime.state(id))?.pid ?? 0;
    if (privateNetns && state.Pid > 0) live.netnsPath = `/proc/${state.Pid}/ns/net`;
    state.StartedAt = new Date().toISOString();
    state.FinishedAt = ZERO_TIME;
    record.HasBeenStarted = true;
    const startedAtMs = Date.now();
    await this.deps.store.save(record);
    this.emit(record, 'start');

    const splitters = this.logSplitters(live);
    const drained = live.hub.connect(proc, (stream, data) => splitters[stream].write(data));
    live.exited = (async () => {
      const { exitCode } = await proc.exited;
      await drained;
      splitters.stdout.flush();
      splitters.stderr.flush();
      await this.onExit(record, live, exitCode, Date.now() - startedAtMs);
    })();
  }

  /** What /etc/hostname, /etc/hosts and /etc/resolv.conf are made of. */
  private etcFilesInput(record: ContainerRecord, hostNetwork: boolean, ip?: string): EtcFilesInput {
    const config = record.Config;
    const hc = record.HostConfig;
    const hostname = config.Hostname ?? record.Id.slice(0, 12);
    return {
      hostname,
      domainname: config.Domainname,
      hostNetwork,
      // The container's own name resolves to its address, as dockerd writes /etc/hosts.
      extraHosts: [...(ip ? [`${hostname}:${ip}`] : []), ...(hc.ExtraHosts ?? [])],
      dns: hc.Dns ?? [],
      dnsSearch: hc.DnsSearch?.length ? hc.DnsSearch : this.deps.defaults.dnsSearch,
      dnsOptions: hc.DnsOptions?.length ? hc.DnsOptions : this.deps.defaults.dnsOptions,
      embeddedDns: this.deps.network.embeddedDnsAddress(record.Id),
      hostGatewayIp: this.deps.network.hostGatewayIp(),
    };
  }

  /** After connect/disconnect: the resolver changes when the first user network comes or the last goes. */
  private async refreshResolvConf(record: ContainerRecord, dnsBefore: string | undefined): Promise<void> {
    await this.deps.network
      .syncDnsRedirect(record.Id)
      .catch((err: Error) =>
        log.warn('cannot redirect 127.0.0.11 to the embedded DNS', { id: record.Id, error: err.message }),
      );
    if (this.deps.network.embeddedDnsAddress(record.Id) === dnsBefore) return;
    await rewriteResolvConf(record.ResolvConfPath, this.etcFilesInput(record, false)).catch((err) =>
      log.warn('cannot rewrite resolv.conf', { id: record.Id, error: String(err) }),
    );
  }

  private logSplitters(live: LiveContainer): Record<StreamName, LineSplitter> {
    const emit = (msg: LogMessage) => {
      live.logDriver?.log(msg);
      for (const listener of live.logListeners) listener();
    };
    // A driver that takes whole runs of lines gets them so: the log path then costs per chunk, not per line.
    const driver = live.logDriver;
    const linesOf = (stream: StreamName) =>
      driver?.logLines
        ? (lines: Buffer, latin1: string, timeNs: bigint) => {
            driver.logLines!(stream, lines, latin1, timeNs);
            for (const listener of live.logListeners) listener();
          }
        : undefined;
    return {
      stdout: new LineSplitter('stdout', emit, undefined, linesOf('stdout')),
      stderr: new LineSplitter('stderr', emit, undefined, linesOf('stderr')),
    };
  }

  /** A linked container's address: on a network the two share, else its first one. */
  private addressForLink(record: ContainerRecord, child: ContainerRecord): string | undefined {
    const endpoints = this.deps.network.endpointsOf(child.Id);
    const shared = attachedNetworks(record)
      .map(([name]) => endpoints[name])
      .find((ep) => ep?.IPAddress);
    return (shared ?? Object.values(endpoints).find((ep) => ep.IPAddress))?.IPAddress || undefined;
  }

  /**
   * `--pid`, `--ipc`, `--uts`, `--cgroupns`: the namespaces this container
   * shares rather than gets, found at start as dockerd finds them (a joined
   * container must be running; an IPC donor must be shareable).
   */
  private async sharedNamespaces(
    record: ContainerRecord,
  ): Promise<Pick<ContainerSpecInput, 'pid' | 'ipc' | 'utsHost' | 'cgroupnsHost'>> {
    const hc = record.HostConfig;
    const running = (ref: string, what: 'PID' | 'IPC') => {
      const other = this.deps.store.find(ref);
      if (!other) throw invalid(`failed to join ${what} namespace: No such container: ${ref}`);
      if (!other.State.Running || !other.State.Pid)
        throw conflict(
          `failed to join ${what} namespace: cannot join ${what} of a non running container: ${other.Id}`,
        );
      return other;
    };
    const out: Pick<ContainerSpecInput, 'pid' | 'ipc' | 'utsHost' | 'cgroupnsHost'> = {
      utsHost: parseUtsMode(hc.UTSMode),
      cgroupnsHost: !parseCgroupnsMode(hc.CgroupnsMode),
    };
    const pid = parsePidMode(hc.PidMode);
    if (pid.kind === 'host') out.pid = { mode: 'host' };
    else if (pid.kind === 'container')
      out.pid = { mode: 'join', path: `/proc/${running(pid.ref, 'PID').State.Pid}/ns/pid` };
    const ipc = parseIpcMode(hc.IpcMode);
    if (ipc.kind === 'host' || ipc.kind === 'none') out.ipc = { mode: ipc.kind };
    else if (ipc.kind === 'shareable')
      out.ipc = { mode: 'shareable', shm: await this.deps.rootfs.mountShm(record.Id, shmSizeOf(hc)) };
    else if (ipc.kind === 'container') {
      const donor = running(ipc.ref, 'IPC');
      if (!ipcShareable(donor.HostConfig.IpcMode))
        throw invalid(
          `failed to join IPC namespace: container ${donor.Id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`,
        );
      out.ipc = {
        mode: 'join',
        path: `/proc/${donor.State.Pid}/ns/ipc`,
        shm: donor.HostConfig.IpcMode === 'host' ? '/dev/shm' : this.deps.rootfs.shmDir(donor.Id),
      };
    }
    return out;
  }

  private async setupNetwork(
    record: ContainerRecord,
    live: LiveContainer,
  ): Promise<
    | { mode: 'host' }
    | { mode: 'private' }
    | { mode: 'netns'; path: string; ip?: string; joined?: ContainerRecord }
  > {
    const mode = record.HostConfig.NetworkMode ?? 'bridge';
    if (mode === 'host') return { mode: 'host' };
    if (mode.startsWith('container:')) {
      const other = this.get(mode.slice('container:'.length));
      const otherNetns = this.live.get(other.Id)?.netnsPath;
      if (!other.State.Running || !otherNetns) {
        throw conflict(`cannot join network of a non running container: ${other.Id}`);
      }
      live.netnsPath = otherNetns;
      live.ownNetns = false;
      return { mode: 'netns', path: otherNetns, joined: other };
    }
    // none: a namespace with loopback only, made ahead of time; without a spare ready the
    // runtime makes it (found through the container's pid once it runs).
    if (mode === 'none') {
      const spare = this.deps.network.takeLoopbackSpare();
      live.ownNetns = spare !== undefined;
      if (!spare) return { mode: 'private' };
      live.netnsPath = spare;
      return { mode: 'netns', path: spare };
    }
    // bridge and user networks: the engine's own namespace, with an endpoint on
    // each network and the published ports.
    const networks = attachedNetworks(record);
    // Only on the default bridge: a namespace made ahead of time, already wired.
    const spare =
      networks.length === 1
        ? this.deps.network.takeSpare(networks[0]![0], {
            ipv4: networks[0]![1].IPv4Address,
            mac: networks[0]![1].MacAddress,
          })
        : undefined;
    const netnsPath = spare?.netnsPath ?? path.join(this.deps.paths.netnsDir, record.Id);
    live.netnsPath = netnsPath;
    live.ownNetns = true;
    let primaryIp = '';
    live.connected = true;
    let first = true;
    for (const [name, cfg] of networks) {
      // The first endpoint's setup makes the namespace too: one process fewer per start.
      const createNetns = first && !spare;
      first = false;
      const endpoint = await this.deps.network.connect(record.Id, netnsPath, name, {
        spare,
        createNetns,
        ipv4: cfg.IPv4Address || undefined,
        mac: cfg.MacAddress || undefined,
        aliases: cfg.Aliases,
        hostname: record.Config.Hostname,
        containerName: record.Name.slice(1),
        dns: record.HostConfig.Dns ?? undefined,
      });
      // Published ports go to the --network's address (or, when it was disconnected, the first one's).
      if (name === mode || !primaryIp) primaryIp = endpoint.IPAddress;
    }
    // Only when the first network had no embedded DNS and a later one has: no process otherwise.
    await this.deps.network.syncDnsRedirect(record.Id);
    const bindings = portBindings(record);
    if (Object.keys(bindings).length) await this.deps.network.publish(record.Id, { ip: primaryIp }, bindings);
    return { mode: 'netns', path: netnsPath, ip: primaryIp };
  }

  private async teardownNetwork(id: string, live: LiveContainer): Promise<void> {
    const ownNetns = live.ownNetns ? live.netnsPath : undefined;
    let netnsGone = false;
    if (live.connected) {
      live.connected = false;
      // releaseAll unpublishes the ports, drops the endpoints and removes the namespace.
      netnsGone = await this.deps.network
        .releaseAll(id, { removeNetns: ownNetns ? () => removeNetns(ownNetns) : undefined })
        .then(
          () => true,
          (err) => {
            log.warn('network release failed', { id, error: String(err) });
            return false;
          },
        );
    }
    if (ownNetns && !netnsGone) await removeNetns(ownNetns).catch(() => {});
    live.netnsPath = undefined;
    live.ownNetns = false;
  }

  private async onExit(
    record: ContainerRecord,
    live: LiveContainer,
    exitCode: number,
    ranMs: number,
  ): Promise<void> {
    const { id } = { id: record.Id };
    await live.logDriver
      ?.close()
      .catch((err) => log.warn('closing log driver failed', { id, error: String(err) }));
    live.logDriver = undefined;
    live.process = undefined;
    // A foreground `runc run` deletes its container when it exits; what is left is ours.
    const releaseMounts = live.releaseMounts;
    live.releaseMounts = undefined;
    await Promise.all([
      this.teardownNetwork(record.Id, live),
      releaseMounts?.(),
      this.deps.rootfs.unmount(id).catch((err) => log.warn('unmount failed', { id, error: String(err) })),
      fs.rm(path.join(this.deps.paths.bundlesDir, id), { recursive: true, force: true }).catch(() => {}),
    ]);

    const state = record.State;
    state.Status = 'exited';
    state.Running = false;
    state.Paused = false;
    state.Pid = 0;
    state.ExitCode = exitCode;
    state.FinishedAt = new Date().toISOString();
    // A --rm container's record is deleted right after; should the engine die in
    // between, reconcile records it exited and removes it all the same.
    // A full disk must not leave waiters hanging: the exit is known in memory either way.
    if (!record.HostConfig.AutoRemove)
      await this.deps.store
        .save(record)
        .catch((err) => log.error('cannot record a container exit on disk', { id, error: String(err) }));
    this.emit(record, 'die', { exitCode: String(exitCode) });
    live.hub.finish();
    for (const waiter of [...live.waiters]) {
      if (waiter.condition !== 'removed') {
        live.waiters.delete(waiter);
        waiter.resolve({ StatusCode: exitCode });
      }
    }

    if (record.HostConfig.AutoRemove) {
      await this.remove(record.Id, { force: true }).catch((err) =>
        log.warn('auto-remove failed', { id, error: String(err) }),
      );
      return;
    }
    if (this.shouldRestart(record, exitCode)) this.scheduleRestart(record, live, ranMs);
  }

  private shouldRestart(record: ContainerRecord, exitCode: number): boolean {
    if (this.shuttingDown || record.ManuallyStopped) return false;
    const policy = record.HostConfig.RestartPolicy ?? { Name: 'no' };
    switch (policy.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure': {
        const max = policy.MaximumRetryCount ?? 0;
        return exitCode !== 0 && (max === 0 || record.RestartCount < max);
      }
      default:
        return false;
    }
  }

  private scheduleRestart(record: ContainerRecord, live: LiveContainer, ranMs: number): void {
    // dockerd's back-off: doubles from 100 ms, reset after 10 s of running.
    live.restartDelayMs = ranMs >= 10_000 ? 100 : Math.min(live.restartDelayMs * 2, 60_000);
    record.State.Restarting = true;
    record.State.Status = 'restarting';
    void this.deps.store
      .save(record)
      .catch((err) => log.error('cannot record a restart on disk', { id: record.Id, error: String(err) }));
    live.restartTimer = setTimeout(() => {
      live.restartTimer = undefined;
      if (this.shuttingDown || record.ManuallyStopped || live.removing) return;
      record.RestartCount += 1;
      this.launch(record)
        .then(() => this.emit(record, 'restart'))
        .catch(async (err) => {
          log.warn('restart failed', { id: record.Id, error: String(err) });
          record.State.Restarting = false;
          record.State.Status = 'exited';
          await this.deps.store.save(record);
          if (this.shouldRestart(record, record.State.ExitCode)) this.scheduleRestart(record, live, 0);
        });
    }, live.restartDelayMs);
  }

  // ---- stop / kill / restart ---------------------------------------------

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const record = this.get(ref);
    const live = this.liveOf(record.Id);
    if (this.cancelPendingRestart(record, live)) return;
    if (!record.State.Running) throw notModified();
    record.ManuallyStopped = true;
    await this.deps.store.save(record);
    const signal = parseSignal(opts.signal || record.Config.StopSignal || 'SIGTERM');
    const timeout = opts.timeout ?? record.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    await this.terminate(record, live, signal, timeout);
  }

  /** A container waiting between restarts is stopped by cancelling the restart. */
  private cancelPendingRestart(record: ContainerRecord, live: LiveContainer): boolean {
    if (!live.restartTimer) return false;
    clearTimeout(live.restartTimer);
    live.restartTimer = undefined;
    record.ManuallyStopped = true;
    record.State.Restarting = false;
    record.State.Status = 'exited';
    void this.deps.store.save(record);
    return true;
  }

  private async terminate(
    record: ContainerRecord,
    live: LiveContainer,
    signal: string,
    timeoutSec: number,
  ): Promise<void> {
    const exited = live.exited;
    if (!record.State.Running || !exited) return;
    this.emit(record, 'kill', { signal: String(signalNumberOf(signal)) });
    await this.deps.runtime.kill(record.Id, signal);
    await this.thawForSignal(record);
    if (timeoutSec >= 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutSec * 1000))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.emit(record, 'kill', { signal: '9' });
        await this.deps.runtime.kill(record.Id, 'SIGKILL');
      }
    }
    await exited;
    this.emit(record, 'stop');
  }

  async kill(ref: string, signalName?: string): Promise<void> {
    const record = this.get(ref);
    const signal = parseSignal(signalName || 'SIGKILL');
    if (!record.State.Running) {
      throw conflict(`Cannot kill container: ${ref}: container ${record.Id} is not running`);
    }
    const live = this.liveOf(record.Id);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      record.ManuallyStopped = true;
      await this.deps.store.save(record);
    }
    this.emit(record, 'kill', { signal: String(signalNumberOf(signal)) });
    await this.deps.runtime.kill(record.Id, signal);
    await this.thawForSignal(record);
    if (signal === 'SIGKILL') await live.exited;
  }

  // ---- pause / update -----------------------------------------------------

  async pause(ref: string): Promise<void> {
    const record = this.get(ref);
    if (!record.State.Running) throw conflict(`Container ${record.Id} is not running`);
    if (record.State.Paused) throw conflict(`Container ${record.Id} is already paused`);
    if (record.State.Restarting)
      throw conflict(`Container ${record.Id} is restarting, wait until the container is running`);
    await this.deps.runtime.pause(record.Id);
    record.State.Paused = true;
    record.State.Status = 'paused';
    await this.deps.store.save(record);
    this.emit(record, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const record = this.get(ref);
    if (!record.State.Paused) throw conflict(`Container ${record.Id} is not paused`);
    await this.deps.runtime.resume(record.Id);
    this.markResumed(record);
    await this.deps.store.save(record);
    this.emit(record, 'unpause');
  }

  private markResumed(record: ContainerRecord): void {
    record.State.Paused = false;
    if (record.State.Running) record.State.Status = 'running';
  }

  /** A signal reaches a frozen container only once it is thawed, as dockerd thaws it. */
  private async thawForSignal(record: ContainerRecord): Promise<void> {
    if (!record.State.Paused) return;
    await this.deps.runtime.resume(record.Id).catch(() => {});
    this.markResumed(record);
    this.emit(record, 'unpause');
  }

  /** `docker update`: new limits now for a running container, and from its next start. */
  async update(ref: string, body: unknown): Promise<{ Warnings: string[] }> {
    const record = this.get(ref);
    const next = applyUpdate(record.HostConfig, body);
    if (record.State.Running) await this.deps.runtime.update(record.Id, ociResources(resourcesOf(next)));
    record.HostConfig = next;
    await this.deps.store.save(record);
    this.emit(record, 'update');
    return { Warnings: [] };
  }

  async restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const record = this.get(ref);
    const live = this.liveOf(record.Id);
    this.cancelPendingRestart(record, live);
    if (record.State.Running) {
      record.ManuallyStopped = true;
      const signal = parseSignal(opts.signal || record.Config.StopSignal || 'SIGTERM');
      await this.terminate(
        record,
        live,
        signal,
        opts.timeout ?? record.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT,
      );
    }
    record.ManuallyStopped = false;
    await this.launch(record);
    this.emit(record, 'restart');
  }

  // ---- wait / attach / resize --------------------------------------------

  wait(
    ref: string,
    condition: WaitCondition = 'not-running',
  ): { ready: Promise<{ StatusCode: number; Error?: { Message: string } }>; cancel(): void } {
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
      throw invalid(`invalid condition: "${condition}"; use not-running, next-exit or removed`);
    }
    const record = this.get(ref);
    const live = this.liveOf(record.Id);
    if (condition === 'not-running' && !record.State.Running && !record.State.Restarting) {
      return { ready: Promise.resolve({ StatusCode: record.State.ExitCode }), cancel: () => {} };
    }
    let waiter: Waiter | undefined;
    const ready = new Promise<{ StatusCode: number }>((resolve) => {
      waiter = { condition, resolve };
      live.waiters.add(waiter);
    });
    return { ready, cancel: () => waiter && live.waiters.delete(waiter) };
  }

  attach(ref: string, opts: AttachOptions, sink: OutputSink): AttachHandle {
    const record = this.get(ref);
    const live = this.liveOf(record.Id);
    const removeSink = opts.stdout || opts.stderr ? live.hub.addSink(sink) : () => {};
    const wantsStdin = opts.stdin && record.Config.OpenStdin;
    // `docker run` attaches between create and start: the root filesystem is mounted meanwhile, and the
    // start joins that mount (a failure shows at the start, which mounts again).
    if (!record.HasBeenStarted && !record.State.Running && !live.removing) {
      try {
        const layers = this.deps.images.layerDirs(this.imageOf(record));
        this.deps.rootfs.mount(record.Id, layers).catch(() => undefined);
      } catch {
        // an image gone since create: the start says so
      }
    }
    this.emit(record, 'attach');
    return {
      tty: record.Config.Tty ?? false,
      writeStdin: (data) => (wantsStdin ? live.hub.writeStdin(data) : true),
      whenStdinDrained: (resume) => live.hub.whenStdinDrained(resume),
      endStdin: () => {
        // Only a StdinOnce container sees EOF when its attached client's input ends.
        if (wantsStdin && record.Config.StdinOnce) live.hub.endStdin();
      },
      detach: removeSink,
    };
  }

  resize(ref: string, cols: number, rows: number): void {
    const record = this.get(ref);
    const proc = this.live.get(record.Id)?.process;
    if (!record.State.Running || !proc) throw conflict(`Container ${record.Id} is not running`);
    proc.resize(cols, rows);
  }

  /** Subscribe to "something was logged" while following logs. */
  onLogWrite(id: string, listener: () => void): () => void {
    const live = this.liveOf(id);
    live.logListeners.add(listener);
    return () => live.logListeners.delete(listener);
  }

  /** Each log file as it becomes current, from the running container's driver (see LogDriver.onRotate). */
  onLogRotate(id: string, listener: (next: RotatedLogFile) => void): () => void {
    return this.liveOf(id).logDriver?.onRotate?.(listener) ?? (() => undefined);
  }

  // ---- networks of an existing container ---------------------------------

  /** `docker network connect`: now when running, and at every start after. */
  async connectNetwork(
    ref: string,
    network: string,
    cfg: { Aliases?: string[]; IPv4Address?: string; MacAddress?: string },
  ): Promise<void> {
    const record = this.get(ref);
    const name = this.deps.network.get(network).Name;
    const mode = record.HostConfig.NetworkMode ?? 'bridge';
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw conflict(
        `container sharing network namespace with another container or host cannot be connected to any other network`,
      );
    }
    if (attachedNetworks(record).some(([n]) => n === name)) {
      throw conflict(`endpoint with name ${record.Name.slice(1)} already exists in network ${name}`);
    }
    const live = this.liveOf(record.Id);
    if (record.State.Running && live.netnsPath) {
      const dnsBefore = this.deps.network.embeddedDnsAddress(record.Id);
      await this.deps.network.connect(record.Id, live.netnsPath, name, {
        ipv4: cfg.IPv4Address || undefined,
        mac: cfg.MacAddress || undefined,
        aliases: cfg.Aliases,
        hostname: record.Config.Hostname,
        containerName: record.Name.slice(1),
        dns: record.HostConfig.Dns ?? undefined,
      });
      live.connected = true;
      await this.refreshResolvConf(record, dnsBefore);
    }
    record.EndpointsConfig = { ...(record.EndpointsConfig ?? {}), [name]: cfg };
    if (name === mode) record.PrimaryNetworkDetached = false;
    await this.deps.store.save(record);
  }

  async disconnectNetwork(ref: string, network: string): Promise<void> {
    const record = this.get(ref);
    const name = this.deps.network.get(network).Name;
    const live = this.liveOf(record.Id);
    const attached = attachedNetworks(record).some(([n]) => n === name);
    if (!attached) throw forbiddenError(`container ${record.Id} is not connected to network ${name}`);
    if (record.State.Running && live.connected) {
      const dnsBefore = this.deps.network.embeddedDnsAddress(record.Id);
      await this.deps.network.disconnect(record.Id, name);
      await this.refreshResolvConf(record, dnsBefore);
    }
    // Off this network until connected again, across restarts too, as with dockerd.
    const rest = { ...(record.EndpointsConfig ?? {}) };
    delete rest[name];
    record.EndpointsConfig = rest;
    if (name === record.HostConfig.NetworkMode) record.PrimaryNetworkDetached = true;
    await this.deps.store.save(record);
  }

  // ---- rename / remove ---------------------------------------------------

  async rename(ref: string, newName: string): Promise<void> {
    if (!newName) throw invalid('Neither old nor new names may be empty');
    const record = this.get(ref);
    const full = validateName(newName);
    if (full === record.Name) throw conflict(`Renaming a container with the same name as its current name`);
    const owner = this.deps.store.nameTaken(full);
    if (owner) {
      throw conflict(
        `Conflict. The container name "${full}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const oldName = record.Name;
    await this.deps.store.rename(record, full);
    this.emit(record, 'rename', { oldName });
  }

  /**
   * docker rm --link /parent/alias: the parent forgets that link. A running
   * parent keeps its /etc/hosts line until it restarts.
   */
  async removeLink(linkName: string): Promise<void> {
    const full = `/${linkName.replace(/^\/+/, '')}`;
    const slash = full.lastIndexOf('/');
    const parentName = full.slice(1, slash);
    const alias = full.slice(slash + 1);
    if (!parentName) throw conflict('Conflict, cannot remove the default link name of the container');
    const parent = this.deps.store.find(parentName);
    if (!parent) throw notFound(`No such container: ${full}`);
    const links = parent.HostConfig.Links ?? [];
    const kept = links.filter((l) => parseLink(l).alias !== alias);
    if (kept.length === links.length) throw notFound(`No such container: ${full}`);
    parent.HostConfig.Links = kept;
    await this.deps.store.save(parent);
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const record = this.get(ref);
    const live = this.liveOf(record.Id);
    if (live.removing) return live.removing;
    if ((record.State.Running || record.State.Restarting) && !opts.force) {
      throw conflict(
        `cannot remove container "${record.Name}": container is running: stop the container before removing or force remove`,
      );
    }
    live.removing = (async () => {
      if (live.restartTimer) clearTimeout(live.restartTimer);
      if (record.State.Running && live.exited) {
        record.ManuallyStopped = true;
        await this.deps.runtime.kill(record.Id, 'SIGKILL');
        await this.thawForSignal(record);
        await live.exited;
      }
      record.State.Status = 'removing';
      await this.teardownNetwork(record.Id, live);
      await this.deps.rootfs.remove(record.Id);
      await fs.rm(path.join(this.deps.paths.bundlesDir, record.Id), { recursive: true, force: true });
      await this.deps.store.remove(record.Id);
      if (opts.volumes || record.HostConfig.AutoRemove) await this.removeAnonymousVolumes(record);
      this.live.delete(record.Id);
      this.onRemoved?.(record.Id);
      this.emit(record, 'destroy');
      for (const waiter of live.waiters) waiter.resolve({ StatusCode: record.State.ExitCode });
      live.waiters.clear();
    })();
    try {
      await live.removing;
    } catch (err) {
      live.removing = undefined;
      throw err;
    }
  }

  // ---- engine start / stop -----------------------------------------------

  /**
   * After a crash, reconcile what the runtime and the kernel still hold with
   * the records: leftover containers are killed, mounts and namespaces
   * removed, records brought to the truth, restart policies applied.
   */
  async reconcile(): Promise<void> {
    const { runtime, rootfs, store, paths } = this.deps;
    const records = await store.load();
    const known = new Set(records.map((r) => r.Id));
    for (const leftover of await runtime.list().catch(() => [])) {
      log.info('removing container left running by a previous engine', { id: leftover.id });
      await runtime.kill(leftover.id, 'SIGKILL').catch(() => {});
      await runtime.delete(leftover.id, true).catch(() => {});
    }
    await rootfs
      .emptyTrash()
      .catch((err: unknown) => log.warn('cannot empty the trash', { error: String(err) }));
    for (const id of await rootfs.listIds()) {
      if (!known.has(id)) await rootfs.remove(id).catch(() => {});
      else await rootfs.unmount(id).catch(() => {});
    }
    await fs.rm(paths.bundlesDir, { recursive: true, force: true });
    await fs.mkdir(paths.netnsDir, { recursive: true });
    for (const file of await fs.readdir(paths.netnsDir)) await removeNetns(path.join(paths.netnsDir, file));

    for (const record of records) {
      const state = record.State;
      if (state.Running || state.Restarting || state.Status === 'removing') {
        state.Running = false;
        state.Paused = false;
        state.Restarting = false;
        state.Pid = 0;
        state.Status = 'exited';
        state.ExitCode = 137;
        state.Error = 'the Berth engine stopped unexpectedly; the container was killed';
        state.FinishedAt = new Date().toISOString();
        await store.save(record);
      }
      // Nobody checks a stopped container: unhealthy, as the health monitor leaves it when it stops.
      if (state.Health && state.Health.Status !== 'unhealthy') {
        state.Health.Status = 'unhealthy';
        await store.save(record);
      }
      if (record.HostConfig.AutoRemove && record.HasBeenStarted) {
        await this.remove(record.Id, { force: true }).catch(() => {});
        continue;
      }
    }
    // Restart policies at engine start: "always" even after a manual stop, as dockerd does.
    const toStart = store.all().filter((r) => {
      const name = r.HostConfig.RestartPolicy?.Name;
      if (name === 'always') return r.HasBeenStarted;
      if (name === 'unless-stopped') return r.HasBeenStarted && !r.ManuallyStopped;
      if (name === 'on-failure') return !r.ManuallyStopped && r.State.ExitCode !== 0 && r.HasBeenStarted;
      return false;
    });
    await Promise.all(
      toStart.map((r) =>
        this.launch(r).catch((err) =>
          log.warn('restart at engine start failed', { id: r.Id, error: String(err) }),
        ),
      ),
    );
  }

  /** Stop every running container (stop signal, then its timeout) and keep the records. */
  /** Stops the running containers, each within its stop timeout or `maxSeconds` (shutdown-timeout), whichever is shorter. */
  async shutdown(maxSeconds?: number): Promise<void> {
    this.shuttingDown = true;
    const running = this.list().filter((r) => r.State.Running);
    await Promise.all(
      running.map(async (record) => {
        const live = this.liveOf(record.Id);
        const signal = parseSignal(record.Config.StopSignal || 'SIGTERM');
        const own = record.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
        const seconds = maxSeconds === undefined || own < 0 ? own : Math.min(own, maxSeconds);
        await this.terminate(record, live, signal, seconds).catch((err) =>
          log.warn('stopping container at shutdown failed', { id: record.Id, error: String(err) }),
        );
      }),
    );
    for (const live of this.live.values()) if (live.restartTimer) clearTimeout(live.restartTimer);
    await Promise.all([...this.live.values()].map((l) => l.removing?.catch(() => {})));
  }

  // ---- events ------------------------------------------------------------

  emit(record: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.publish('container', action, record.Id, {
      ...(record.Config.Labels ?? {}),
      image: record.ImageRef,
      name: record.Name.slice(1),
      ...extra,
    });
  }
}

/**
 * dockerd's 404 for an image of another platform than asked: the docker CLI
 * then pulls the image for that platform, as it does for a missing one.
 */
function checkImagePlatform(
  reference: string,
  config: { os: string; architecture: string; variant?: string },
  want: Platform,
): void {
  const have: Platform = {
    os: config.os || 'linux',
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
  // arm64's variant is v8 when unnamed.
  const variant = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const matches =
    have.os === want.os &&
    have.architecture === want.architecture &&
    (want.variant === undefined || variant(have) === variant(want));
  if (!matches)
    throw notFound(
      `image with reference ${reference} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual: ${formatPlatform(have)}`,
    );
}

function signalNumberOf(signal: string): number {
  return (os.constants.signals as Record<string, number>)[signal] ?? 0;
}

/** Endpoint settings the client asked for, per network (docker run --ip/--mac-address/--network-alias). */
function endpointsConfig(
  body: ContainerCreateRequest,
  primary: string,
): Record<string, { Aliases?: string[]; IPv4Address?: string; MacAddress?: string }> {
  const out: Record<string, { Aliases?: string[]; IPv4Address?: string; MacAddress?: string }> = {};
  const given = (body.NetworkingConfig?.EndpointsConfig ?? {}) as Record<string, Record<string, unknown>>;
  for (const [rawName, cfg] of Object.entries(given)) {
    if (!cfg) continue;
    const name = rawName === 'default' ? 'bridge' : rawName;
    if (['host', 'none'].includes(name) || name.startsWith('container:')) continue;
    const ipam = (cfg.IPAMConfig ?? {}) as {
      IPv4Address?: string;
      IPv6Address?: string;
      LinkLocalIPs?: string[];
    };
    if (ipam.IPv6Address)
      throw invalid(
        name === 'bridge'
          ? 'user specified IP address is supported on user defined networks only'
          : `--ip6: IPv6 networks are not supported by Berth yet, so ${name} has no IPv6 address to give`,
      );
    if (ipam.LinkLocalIPs?.length) throw invalid('--link-local-ip is not supported by Berth');
    out[name] = {
      Aliases: Array.isArray(cfg.Aliases) ? (cfg.Aliases as string[]) : undefined,
      IPv4Address: ipam.IPv4Address || undefined,
      MacAddress:
        (cfg.MacAddress as string | undefined) ||
        (name === primary ? (body.MacAddress as string | undefined) : undefined) ||
        undefined,
    };
  }
  if (body.MacAddress && !out[primary]) out[primary] = { MacAddress: body.MacAddress as string };
  return out;
}

/** -p bindings plus, with -P, a random host port for every exposed port. */
function portBindings(record: ContainerRecord): PortMap {
  const out: PortMap = {};
  for (const [port, list] of Object.entries(record.HostConfig.PortBindings ?? {})) {
    if (list && list.length)
      out[port] = list.map((b) => ({ HostIp: b.HostIp ?? '', HostPort: b.HostPort ?? '' }));
  }
  if (record.HostConfig.PublishAllPorts) {
    for (const port of Object.keys(record.Config.ExposedPorts ?? {})) {
      if (!out[port]) out[port] = [{ HostIp: '', HostPort: '' }];
    }
  }
  return out;
}

/** The cgroup limits of a HostConfig, in the runtime spec's terms (start and update). */
/** dockerd's default /dev/shm size when --shm-size is not given. */
const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

function shmSizeOf(hc: HostConfig): number {
  return hc.ShmSize && hc.ShmSize > 0 ? hc.ShmSize : DEFAULT_SHM_BYTES;
}

function resourcesOf(hc: HostConfig): ContainerSpecInput['resources'] {
  return {
    memory: hc.Memory || undefined,
    memorySwap: hc.MemorySwap || undefined,
    memoryReservation: hc.MemoryReservation || undefined,
    nanoCpus: hc.NanoCpus || undefined,
    cpuShares: hc.CpuShares || undefined,
    cpuQuota: hc.CpuQuota || undefined,
    cpuPeriod: hc.CpuPeriod || undefined,
    pidsLimit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
    cpusetCpus: hc.CpusetCpus || undefined,
    cpusetMems: hc.CpusetMems || undefined,
    memorySwappiness:
      typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness >= 0 ? hc.MemorySwappiness : undefined,
    oomKillDisable: hc.OomKillDisable === true || undefined,
  };
}
