// `GET /version` and `GET /info`: what the engine says about itself.
import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import {
  API_VERSION,
  BERTH_VERSION,
  ENGINE_COMPAT_VERSION,
  MIN_API_VERSION,
} from '../../common/engine-api.js';
import { idMaps } from '../util/id-map.js';

export function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function cgroupVersion(): '1' | '2' {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

export function versionInfo(experimental = false): Record<string, unknown> {
  const details = {
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'berth',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: '',
    Experimental: String(experimental),
  };
  return {
    Platform: { Name: `Berth Engine ${BERTH_VERSION}` },
    Components: [
      { Name: 'Engine', Version: ENGINE_COMPAT_VERSION, Details: details },
      { Name: 'berth', Version: BERTH_VERSION, Details: { GitCommit: 'berth' } },
    ],
    Version: ENGINE_COMPAT_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'berth',
    GoVersion: details.GoVersion,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: '',
    // As dockerd: only said when on.
    ...(experimental ? { Experimental: true } : {}),
  };
}

export interface InfoInput {
  id: string;
  containers: { total: number; running: number; paused: number; stopped: number };
  images: number;
  dataRoot: string;
  runtime: { name: string; path: string };
  loggingDriver: string;
  eventListeners: number;
  warnings: string[];
  /** --insecure-registry values (loopback's CIDRs included) split into CIDRs and host names. */
  insecureRegistries?: { cidrs: string[]; hosts: string[] };
  /** registry-mirrors (Docker Hub's). */
  registryMirrors?: string[];
  labels?: string[];
  experimental?: boolean;
}

export function systemInfo(input: InfoInput): Record<string, unknown> {
  return {
    ID: input.id,
    Containers: input.containers.total,
    ContainersRunning: input.containers.running,
    ContainersPaused: input.containers.paused,
    ContainersStopped: input.containers.stopped,
    Images: input.images,
    Driver: 'overlay2',
    DriverStatus: [
      ['Backing Filesystem', 'extfs'],
      ['Supports d_type', 'true'],
    ],
    Plugins: {
      Volume: ['local'],
      Network: ['host', 'null'],
      Authorization: null,
      Log: ['json-file', 'none'],
    },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: input.loggingDriver,
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    NEventsListener: input.eventListeners,
    KernelVersion: os.release(),
    OperatingSystem: osName(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: os.machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: null,
      AllowNondistributableArtifactsHostnames: null,
      InsecureRegistryCIDRs: input.insecureRegistries?.cidrs ?? ['127.0.0.0/8', '::1/128'],
      IndexConfigs: {
        'docker.io': {
          Name: 'docker.io',
          Mirrors: input.registryMirrors ?? [],
          Secure: true,
          Official: true,
        },
        ...Object.fromEntries(
          (input.insecureRegistries?.hosts ?? []).map((h) => [
            h,
            { Name: h, Mirrors: [], Secure: false, Official: false },
          ]),
        ),
      },
      Mirrors: input.registryMirrors?.length ? input.registryMirrors : null,
    },
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    GenericResources: null,
    DockerRootDir: input.dataRoot,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: os.hostname(),
    Labels: input.labels ?? [],
    ExperimentalBuild: input.experimental ?? false,
    ServerVersion: ENGINE_COMPAT_VERSION,
    Runtimes: { [input.runtime.name]: { path: input.runtime.path } },
    DefaultRuntime: input.runtime.name,
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '' },
    RuncCommit: { ID: '' },
    InitCommit: { ID: '' },
    SecurityOptions: [
      'name=seccomp,profile=builtin',
      ...(idMaps() ? ['name=userns'] : []),
      ...(cgroupVersion() === '2' ? ['name=cgroupns'] : []),
    ],
    CDISpecDirs: [],
    Warnings: input.warnings,
  };
}
