// `compose config`: the project as it was resolved (files merged, variables
// interpolated, env_file read, paths absolute), in the Compose Specification's
// canonical long forms, as YAML.
import { stringify } from 'yaml';
import type { FileObject, FileReference, HostOptions, LifecycleHook, Project, Service } from './model.js';
import { formatDuration } from './units.js';

type Out = Record<string, unknown>;

function prune(o: Out): Out {
  for (const [k, v] of Object.entries(o)) {
    const empty =
      v === undefined ||
      (Array.isArray(v) && v.length === 0) ||
      (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
    if (empty || v === false) delete o[k];
  }
  return o;
}

function serviceOut(s: Service): Out {
  const deploy =
    s.cpus !== undefined || s.memory !== undefined
      ? {
          resources: {
            limits: prune({
              cpus: s.cpus !== undefined ? String(s.cpus) : undefined,
              memory: s.memory !== undefined ? String(s.memory) : undefined,
            }),
          },
        }
      : undefined;
  const out = prune({
    image: s.image,
    build: s.build
      ? prune({
          context: s.build.context,
          dockerfile: s.build.dockerfile,
          args: s.build.args,
          target: s.build.target,
          labels: s.build.labels,
          no_cache: s.build.noCache,
          pull: s.build.pull,
        })
      : undefined,
    pull_policy: s.pullPolicy,
    container_name: s.containerName,
    command: s.command,
    entrypoint: s.entrypoint,
    environment: Object.fromEntries(
      Object.entries(s.environment)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, v.value]),
    ),
    ports: s.ports.map((p) =>
      prune({
        mode: 'ingress',
        host_ip: p.hostIp,
        target: p.target,
        published: p.published,
        protocol: p.protocol,
      }),
    ),
    expose: s.expose,
    volumes: s.volumes.map((v) =>
      prune({
        type: v.type,
        source: v.source,
        target: v.target,
        read_only: v.readOnly,
        bind: v.type === 'bind' ? { create_host_path: v.createHostPath } : undefined,
        volume: v.noCopy ? { nocopy: true } : undefined,
        tmpfs: v.tmpfsSize !== undefined ? { size: v.tmpfsSize } : undefined,
      }),
    ),
    networks: Object.fromEntries(
      Object.entries(s.networks).map(([k, n]) => [
        k,
        n.aliases.length || n.ipv4Address ? prune({ aliases: n.aliases, ipv4_address: n.ipv4Address }) : null,
      ]),
    ),
    network_mode: s.networkMode,
    pid: s.pid,
    ipc: s.ipc,
    uts: s.uts,
    cgroup: s.cgroup,
    depends_on: Object.fromEntries(
      Object.entries(s.dependsOn).map(([k, d]) => [k, { condition: d.condition, required: d.required }]),
    ),
    restart: s.restart,
    labels: s.labels,
    working_dir: s.workingDir,
    user: s.user,
    hostname: s.hostname,
    domainname: s.domainname,
    tmpfs: s.tmpfs,
    logging: s.logging ? prune({ driver: s.logging.driver, options: s.logging.options }) : undefined,
    deploy,
    healthcheck: s.healthcheck
      ? prune({
          test: s.healthcheck.test,
          interval: s.healthcheck.interval !== undefined ? formatDuration(s.healthcheck.interval) : undefined,
          timeout: s.healthcheck.timeout !== undefined ? formatDuration(s.healthcheck.timeout) : undefined,
          retries: s.healthcheck.retries,
          start_period:
            s.healthcheck.startPeriod !== undefined ? formatDuration(s.healthcheck.startPeriod) : undefined,
          start_interval:
            s.healthcheck.startInterval !== undefined
              ? formatDuration(s.healthcheck.startInterval)
              : undefined,
        })
      : undefined,
    scale: s.scale,
    tty: s.tty,
    stdin_open: s.stdinOpen,
    privileged: s.privileged,
    read_only: s.readOnly,
    init: s.init,
    cap_add: s.capAdd,
    cap_drop: s.capDrop,
    extra_hosts: s.extraHosts,
    dns: s.dns,
    security_opt: s.securityOpt,
    sysctls: s.sysctls,
    devices: s.devices.length
      ? s.devices.map((d) => ({
          source: d.PathOnHost,
          target: d.PathInContainer,
          permissions: d.CgroupPermissions,
        }))
      : undefined,
    ulimits: Object.keys(s.ulimits).length ? s.ulimits : undefined,
    group_add: s.groupAdd.length ? s.groupAdd : undefined,
    stop_signal: s.stopSignal,
    stop_grace_period: s.stopGracePeriod !== undefined ? formatDuration(s.stopGracePeriod * 1e9) : undefined,
    pids_limit: s.pidsLimit,
    shm_size: s.shmSize,
    profiles: s.profiles,
    secrets: s.secrets.map(referenceOut),
    configs: s.configs.map(referenceOut),
    links: s.links,
    external_links: s.externalLinks,
    volumes_from: s.volumesFrom,
    post_start: s.postStart.map(hookOut),
    pre_stop: s.preStop.map(hookOut),
    platform: s.platform,
    mac_address: s.macAddress,
    ...hostOptionsOut(s.hostOptions),
  });
  // prune drops false; attach: false is not the default.
  if (!s.attach) out.attach = false;
  return out;
}

function referenceOut(r: FileReference): Out {
  return prune({
    source: r.source,
    target: r.target,
    uid: r.uid,
    gid: r.gid,
    mode: r.mode !== undefined ? `0${r.mode.toString(8)}` : undefined,
  });
}

function hookOut(h: LifecycleHook): Out {
  return prune({
    command: h.command,
    user: h.user,
    privileged: h.privileged,
    working_dir: h.workingDir,
    environment: h.environment,
  });
}

/** HostConfig fields back under their compose keys (sizes in bytes, periods in microseconds). */
function hostOptionsOut(h: HostOptions): Out {
  const devices = (list: Array<{ Path: string; Rate?: number; Weight?: number }> | undefined) =>
    list?.map((d) => prune({ path: d.Path, rate: d.Rate, weight: d.Weight }));
  const blkio = prune({
    weight: h.BlkioWeight,
    weight_device: devices(h.BlkioWeightDevice),
    device_read_bps: devices(h.BlkioDeviceReadBps),
    device_write_bps: devices(h.BlkioDeviceWriteBps),
    device_read_iops: devices(h.BlkioDeviceReadIOps),
    device_write_iops: devices(h.BlkioDeviceWriteIOps),
  });
  return {
    annotations: h.Annotations,
    cpu_shares: h.CpuShares,
    cpu_period: h.CpuPeriod,
    cpu_quota: h.CpuQuota,
    cpu_rt_period: h.CpuRealtimePeriod,
    cpu_rt_runtime: h.CpuRealtimeRuntime,
    cpu_count: h.CpuCount,
    cpu_percent: h.CpuPercent,
    cpuset: h.CpusetCpus,
    mem_reservation: h.MemoryReservation,
    memswap_limit: h.MemorySwap,
    mem_swappiness: h.MemorySwappiness,
    oom_kill_disable: h.OomKillDisable,
    oom_score_adj: h.OomScoreAdj,
    device_cgroup_rules: h.DeviceCgroupRules,
    dns_opt: h.DnsOptions,
    dns_search: h.DnsSearch,
    userns_mode: h.UsernsMode,
    runtime: h.Runtime,
    cgroup_parent: h.CgroupParent,
    isolation: h.Isolation,
    storage_opt: h.StorageOpt,
    blkio_config: Object.keys(blkio).length ? blkio : undefined,
    gpus: h.DeviceRequests?.map((d) =>
      prune({
        driver: d.Driver || undefined,
        count: d.Count === -1 ? 'all' : d.Count,
        device_ids: d.DeviceIDs,
        capabilities: d.Capabilities.flat(),
        options: d.Options,
      }),
    ),
  };
}

function fileObjectOut(o: FileObject): Out {
  return prune({ file: o.file, environment: o.environment, content: o.content, external: o.external });
}

export function resolvedConfig(project: Project): Out {
  const services = Object.values(project.services).sort((a, b) => a.name.localeCompare(b.name));
  const usedNetworks = new Set(services.flatMap((s) => Object.keys(s.networks)));
  return prune({
    name: project.name,
    services: Object.fromEntries(services.map((s) => [s.name, serviceOut(s)])),
    networks: Object.fromEntries(
      Object.entries(project.networks)
        .filter(([k]) => k !== 'default' || usedNetworks.has(k))
        .map(([k, n]) => [
          k,
          prune({
            name: n.name,
            external: n.external,
            driver: n.driver,
            driver_opts: n.driverOpts,
            labels: n.labels,
            internal: n.internal,
            attachable: n.attachable,
            enable_ipv6: n.enableIpv6,
            ipam: n.ipam
              ? prune({
                  driver: n.ipam.Driver,
                  config: n.ipam.Config.map((c) =>
                    prune({
                      subnet: c.Subnet,
                      ip_range: c.IPRange,
                      gateway: c.Gateway,
                      aux_addresses: c.AuxiliaryAddresses,
                    }),
                  ),
                  options: n.ipam.Options,
                })
              : undefined,
          }),
        ]),
    ),
    secrets: Object.fromEntries(Object.entries(project.secrets).map(([k, o]) => [k, fileObjectOut(o)])),
    configs: Object.fromEntries(Object.entries(project.configs).map(([k, o]) => [k, fileObjectOut(o)])),
    volumes: Object.fromEntries(
      Object.entries(project.volumes).map(([k, v]) => [
        k,
        prune({
          name: v.name,
          external: v.external,
          driver: v.driver,
          driver_opts: v.driverOpts,
          labels: v.labels,
        }),
      ]),
    ),
  });
}

export function resolvedConfigYaml(project: Project): string {
  return stringify(resolvedConfig(project), { lineWidth: 0 });
}
