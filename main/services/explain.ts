// The Isolation tab's facts: Berth's engine answers GET /berth/containers/{id}/explain
// (common/explain.ts). Another engine (dockerd) has no such route: then what
// inspect tells is shown (limits, layers, mounts, network, env sources), without
// namespaces or live cgroup use, and the tab says so.
import type Docker from 'dockerode';
import {
  ENV_SOURCES,
  ENV_SOURCES_LABEL,
  explainPath,
  type ContainerExplanation,
  type EnvSource,
  type ExplainedMount,
} from '../../common/explain.js';

export interface ExplainResult {
  explanation: ContainerExplanation;
  /** engine: Berth's explain endpoint; inspect: pieced together from inspect (no namespaces, no live use). */
  from: 'engine' | 'inspect';
}

export async function explainContainer(docker: Docker, id: string): Promise<ExplainResult> {
  const inspect = await docker.getContainer(id).inspect(); // a missing container: the engine's 404
  try {
    const explanation = await new Promise<ContainerExplanation>((resolve, reject) => {
      docker.modem.dial(
        {
          path: explainPath(inspect.Id),
          method: 'GET',
          statusCodes: { 200: true, 404: 'not found', 500: 'server error' },
        },
        (err, data) => (err ? reject(err) : resolve(data as ContainerExplanation)),
      );
    });
    return { explanation, from: 'engine' };
  } catch {
    const image = await docker
      .getImage(inspect.Image)
      .inspect()
      .catch(() => undefined);
    return { explanation: explanationFromInspect(inspect, image?.Config?.Env ?? []), from: 'inspect' };
  }
}

export function explanationFromInspect(
  c: Docker.ContainerInspectInfo,
  imageEnv: string[],
): ContainerExplanation {
  const hc = c.HostConfig;
  const labelled = parseSources(c.Config.Labels?.[ENV_SOURCES_LABEL]);
  const imageValues = new Map(imageEnv.map((e) => [e.split('=')[0], e.slice(e.indexOf('=') + 1)]));
  const gd = (c.GraphDriver?.Data ?? {}) as Record<string, string>;
  const nets = c.NetworkSettings?.Networks ?? {};
  const ports = c.NetworkSettings?.Ports ?? {};
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    running: c.State.Running,
    pid: c.State.Pid,
    namespaces: [],
    cgroup: {
      path: '',
      version: 1,
      memory: { limit: hc.Memory || null, usage: null },
      cpu: {
        limit: hc.NanoCpus
          ? hc.NanoCpus / 1e9
          : hc.CpuQuota && hc.CpuPeriod
            ? hc.CpuQuota / hc.CpuPeriod
            : null,
        shares: hc.CpuShares || null,
        cpuset: hc.CpusetCpus || null,
        usageNanos: null,
      },
      pids: { limit: hc.PidsLimit || null, current: null },
    },
    rootfs: {
      driver: 'overlay',
      lowerDirs: (gd.LowerDir ?? '').split(':').filter(Boolean),
      upperDir: gd.UpperDir ?? '',
      workDir: gd.WorkDir ?? '',
      merged: gd.MergedDir ?? '',
      readOnly: Boolean(hc.ReadonlyRootfs),
    },
    mounts: (c.Mounts ?? []).map((m): ExplainedMount => ({
      type: (m.Type as ExplainedMount['type']) ?? 'bind',
      source: m.Type === 'volume' ? (m.Name ?? '') : m.Source,
      hostPath: m.Source,
      destination: m.Destination,
      readOnly: !m.RW,
    })),
    networkMode: hc.NetworkMode ?? 'default',
    networks: Object.entries(nets).map(([name, n]) => ({
      name,
      bridge: null,
      vethHost: null,
      ipAddress: n.IPAddress,
      prefixLen: n.IPPrefixLen,
      macAddress: n.MacAddress,
      gateway: n.Gateway,
      aliases: n.Aliases ?? [],
    })),
    ports: Object.entries(ports).flatMap(([key, bindings]) => {
      const [port, proto] = key.split('/');
      return (bindings ?? []).map((b) => ({
        containerPort: Number(port),
        protocol: (proto ?? 'tcp') as 'tcp' | 'udp' | 'sctp',
        hostIp: b.HostIp,
        hostPort: Number(b.HostPort),
      }));
    }),
    env: (c.Config.Env ?? []).map((e) => {
      const key = e.split('=')[0];
      const value = e.slice(key.length + 1);
      const fromImage = imageValues.get(key);
      const source: EnvSource = labelled[key] ?? (fromImage === value ? 'image' : 'create request');
      return {
        key,
        value,
        source,
        ...(fromImage !== undefined && fromImage !== value ? { imageValue: fromImage } : {}),
      };
    }),
  };
}

function parseSources(label: string | undefined): Record<string, EnvSource> {
  if (!label) return {};
  try {
    const parsed = JSON.parse(label) as Record<string, string>;
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, EnvSource] =>
        (ENV_SOURCES as readonly string[]).includes(e[1]),
      ),
    );
  } catch {
    return {};
  }
}
