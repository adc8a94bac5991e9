// berth-engine: the daemon. dockerd's flags where they mean the same thing.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH_VERSION, ENGINE_COMPAT_VERSION } from '../common/engine-api.js';
import { Engine } from './engine/engine.js';
import type { ApiServer, TlsOptions } from './api/server.js';
import { groupId, listen, loadTls, parseHosts, type ListenAddress } from './api/listeners.js';
import { log, setLogLevel } from './util/logger.js';
import { validateLogConfig } from './logs/log-driver.js';
import { loadDaemonSettings, type DaemonSettings } from './daemon-config.js';
import { parseByteSize } from '../common/daemon-directives.js';
import type { ContainerDefaults } from './engine/container-defaults.js';
import { remappedDataRoot, resolveRemap } from './runtime/userns-remap.js';

const USAGE = `Usage: berth-engine [OPTIONS]

The Berth container engine: a Docker Engine API (1.47) daemon.

Options:
  -H, --host unix:///path.sock   Socket to listen on (repeatable; default unix:///var/run/docker.sock);
                                 tcp://HOST:PORT only with --tlsverify
  -G, --group NAME               Group owning the unix sockets, mode 0660 (default berth, if it exists)
      --tlsverify                Require client certificates signed by --tlscacert on TCP listeners
      --tlscacert, --tlscert, --tlskey FILE   The CA of clients, the server's certificate and key (PEM)
      --data-root DIR            Persistent state (default /var/lib/berth)
      --exec-root DIR            Runtime state (default /var/run/berth)
      --runtime crun|runc        OCI runtime (default crun; runc where crun cannot run)
      --log-level LEVEL          debug, info, warn, error, fatal (default info)
      --log-driver NAME          Default log driver for containers (default json-file)
      --log-opt KEY=VALUE        Default log driver options (repeatable)
      --config-file FILE         daemon.json, as dockerd reads it (default <data-root>/daemon.json
                                 when it exists; a directive may not also be given as a flag):
                                 log-driver, log-opts, log-level, debug, bip, iptables,
                                 userland-proxy, insecure-registries, registry-mirrors,
                                 max-concurrent-downloads/-uploads, dns, dns-search, dns-opts,
                                 host-gateway-ip, default-address-pools, mtu, ipv6 (false),
                                 default-runtime, group, userns-remap, storage-driver
                                 (overlay2), default-ulimits, default-shm-size,
                                 default-ipc-mode, default-cgroupns-mode, init,
                                 no-new-privileges, shutdown-timeout, live-restore (false),
                                 labels, experimental, features and builder (BuildKit's:
                                 taken, with nothing for the classic builder to do)
  -D, --debug                    Debug logging (as --log-level debug)
      --registry-mirror URL      Pull Docker Hub images through this mirror first (repeatable)
      --max-concurrent-downloads N  Layers pulled at once per pull (default 3)
      --dns-search DOMAIN        Default search domain of containers (repeatable)
      --dns-opt OPTION           Default resolver option of containers (repeatable)
      --init                     Run tini as PID 1 in containers that do not say (--init)
      --default-shm-size SIZE    Containers' /dev/shm size when they do not say (default 64m)
      --default-ipc-mode MODE    private or shareable (default private)
      --shutdown-timeout SECONDS Longest wait for containers to stop when the engine stops
      --label KEY=VALUE          An engine label, shown by docker info (repeatable)
      --experimental             Report experimental features as enabled
      --pidfile FILE             Write the daemon's pid here
      --bip CIDR                 The default bridge's address (default 172.17.0.1/16)
      --iptables=true|false      Manage NAT rules for published ports (default true)
      --userland-proxy=true|false  Also forward published ports in process (default true)
      --forward-iface IFACE      Connections arriving on IFACE at a published port reach its
                                 container whatever address it was published on (in Berth's
                                 VM: eth0, where the user's machine forwards published ports)
      --insecure-registry HOST   Reach this registry (host[:port] or CIDR) over plain HTTP or
                                 unverified TLS (repeatable; loopback always is)
      --dns IP                   Resolver that containers' embedded DNS forwards to (repeatable;
                                 default: the nameservers of /etc/resolv.conf)
      --host-gateway-ip IP       The address of "host-gateway" in --add-host (default: the
                                 default bridge's gateway)
      --userns-remap default|USER[:GROUP]  Run containers in a user namespace whose root is
                                 USER's first subordinate id (/etc/subuid, /etc/subgid);
                                 "default" makes and uses the dockremap user. State then
                                 lives in <data-root>/<uid>.<gid>; --userns=host opts out
  -v, --version                  Print the version and exit
  -h, --help                     Print this help
`;

function fail(message: string): never {
  process.stderr.write(`berth-engine: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', short: 'H', multiple: true },
        'data-root': { type: 'string' },
        'exec-root': { type: 'string' },
        runtime: { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        'log-driver': { type: 'string' },
        'log-opt': { type: 'string', multiple: true },
        'config-file': { type: 'string' },
        pidfile: { type: 'string', short: 'p' },
        bip: { type: 'string' },
        iptables: { type: 'string' },
        'userland-proxy': { type: 'string' },
        'forward-iface': { type: 'string' },
        'insecure-registry': { type: 'string', multiple: true },
        dns: { type: 'string', multiple: true },
        'host-gateway-ip': { type: 'string' },
        'userns-remap': { type: 'string' },
        group: { type: 'string', short: 'G' },
        tlsverify: { type: 'boolean' },
        tlscacert: { type: 'string' },
        tlscert: { type: 'string' },
        tlskey: { type: 'string' },
        debug: { type: 'boolean', short: 'D' },
        'registry-mirror': { type: 'string', multiple: true },
        'max-concurrent-downloads': { type: 'string' },
        'dns-search': { type: 'string', multiple: true },
        'dns-opt': { type: 'string', multiple: true },
        init: { type: 'boolean' },
        'default-shm-size': { type: 'string' },
        'default-ipc-mode': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        label: { type: 'string', multiple: true },
        experimental: { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.version) {
    process.stdout.write(
      `Berth engine ${BERTH_VERSION} (Docker Engine API 1.47, compatible with ${ENGINE_COMPAT_VERSION})\n`,
    );
    return;
  }
  if (values['log-level']) {
    try {
      setLogLevel(values['log-level']);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  if (process.getuid?.() !== 0)
    fail('the engine must run as root (it creates namespaces, mounts and cgroups)');
  let flagLogOpts: Record<string, string> | undefined;
  for (const opt of values['log-opt'] ?? []) {
    const eq = opt.indexOf('=');
    if (eq <= 0) fail(`invalid --log-opt "${opt}": expected KEY=VALUE`);
    flagLogOpts = { ...flagLogOpts, [opt.slice(0, eq)]: opt.slice(eq + 1) };
  }
  const boolFlag = (name: string, value: string | undefined): boolean | undefined => {
    if (value === undefined) return undefined;
    if (['true', '1'].includes(value)) return true;
    if (['false', '0'].includes(value)) return false;
    fail(`invalid value "${value}" for --${name}: use true or false`);
  };
  const intFlag = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) fail(`invalid value "${value}" for --${name}: give a whole number`);
    return Number(value);
  };
  const baseDataRoot = values['data-root'] ?? '/var/lib/berth';
  let settings: DaemonSettings;
  try {
    settings = await loadDaemonSettings(
      values['config-file'] ?? path.join(baseDataRoot, 'daemon.json'),
      values['config-file'] !== undefined,
      {
        logDriver: values['log-driver'],
        logOpts: flagLogOpts,
        logLevel: values['log-level'],
        bip: values.bip,
        iptables: boolFlag('iptables', values.iptables),
        userlandProxy: boolFlag('userland-proxy', values['userland-proxy']),
        insecureRegistries: values['insecure-registry'],
        dns: values.dns,
        hostGatewayIp: values['host-gateway-ip'],
        runtime: values.runtime,
        group: values.group,
        usernsRemap: values['userns-remap'],
        debug: values.debug || undefined,
        registryMirrors: values['registry-mirror'],
        maxConcurrentDownloads: intFlag('max-concurrent-downloads', values['max-concurrent-downloads']),
        dnsSearch: values['dns-search'],
        dnsOptions: values['dns-opt'],
        init: values.init || undefined,
        defaultShmSize: values['default-shm-size'],
        defaultIpcMode: values['default-ipc-mode'],
        shutdownTimeout: intFlag('shutdown-timeout', values['shutdown-timeout']),
        labels: values.label,
        experimental: values.experimental || undefined,
      },
    );
    if (settings.logLevel && !values['log-level']) setLogLevel(settings.logLevel);
    // -D / "debug": debug logging unless a level was given.
    else if (settings.debug && !settings.logLevel) setLogLevel('debug');
    if (settings.liveRestore)
      throw new Error(
        'live-restore is not available: Berth stops its containers when the engine stops (they start again by their restart policies)',
      );
  } catch (err) {
    fail((err as Error).message);
  }
  const runtime = settings.runtime;
  if (runtime && runtime !== 'crun' && runtime !== 'runc')
    fail(`unknown runtime "${runtime}": use crun or runc`);
  const logDriver = settings.logDriver ?? 'json-file';
  const logOpts = settings.logOpts ?? {};
  try {
    validateLogConfig(logDriver, logOpts);
  } catch (err) {
    fail(`failed to set log opts: ${(err as Error).message}`);
  }

  for (const d of settings.dns ?? []) if (net.isIP(d) === 0) fail(`invalid --dns "${d}": give an IP address`);
  const hostGatewayIp = settings.hostGatewayIp;
  if (hostGatewayIp !== undefined && net.isIP(hostGatewayIp) === 0)
    fail(`invalid --host-gateway-ip "${hostGatewayIp}": give an IP address`);
  const forwardIface = values['forward-iface'];
  // Linux's own limit on an interface name; the name goes into iptables rules.
  if (forwardIface !== undefined && !/^[\w.-]{1,15}$/.test(forwardIface))
    fail(`invalid --forward-iface "${forwardIface}": give a network interface's name`);

  let addresses: ListenAddress[];
  let tls: TlsOptions | undefined;
  try {
    addresses = parseHosts(values.host?.length ? values.host : ['unix:///var/run/docker.sock'], values);
    if (values.tlsverify) tls = loadTls(values);
  } catch (err) {
    fail((err as Error).message);
  }
  // dockerd's --group: the socket's group when it exists; naming a missing one is an error.
  const groupName = settings.group ?? 'berth';
  const gid = await groupId(groupName);
  if (gid === undefined && settings.group !== undefined)
    fail(`group "${groupName}" does not exist (--group)`);
  const sockets = addresses.flatMap((a) => (a.kind === 'unix' ? [a.path] : []));
  let dataRoot = baseDataRoot;
  if (settings.usernsRemap !== undefined) {
    try {
      dataRoot = await remappedDataRoot(baseDataRoot, await resolveRemap(settings.usernsRemap));
    } catch (err) {
      fail((err as Error).message);
    }
  }
  let engine: Engine;
  try {
    engine = await Engine.open({
      dataRoot,
      execRoot: values['exec-root'] ?? '/var/run/berth',
      runtime: runtime as 'crun' | 'runc' | undefined,
      logDriver,
      logOpts,
      bip: settings.bip,
      iptables: settings.iptables,
      userlandProxy: settings.userlandProxy,
      forwardIface,
      insecureRegistries: settings.insecureRegistries,
      dns: settings.dns,
      hostGatewayIp,
      registryMirrors: settings.registryMirrors,
      maxConcurrentDownloads: settings.maxConcurrentDownloads,
      maxConcurrentUploads: settings.maxConcurrentUploads,
      addressPools: settings.defaultAddressPools,
      mtu: settings.mtu,
      containerDefaults: containerDefaults(settings),
      shutdownTimeout: settings.shutdownTimeout,
      labels: settings.labels,
      experimental: settings.experimental ?? false,
    });
  } catch (err) {
    fail((err as Error).message);
  }

  let servers: ApiServer[];
  try {
    servers = await listen(engine, addresses, { gid, tls });
  } catch (err) {
    await engine.close().catch(() => undefined);
    fail((err as Error).message);
  }
  for (const a of addresses)
    log.info(
      'API listening',
      a.kind === 'unix'
        ? { socket: a.path, group: gid === undefined ? 'root' : groupName }
        : { tcp: `${a.host}:${a.port}`, tls: 'client certificates required' },
    );
  if (values.pidfile) await fs.writeFile(values.pidfile, `${process.pid}\n`);
  log.info('Berth engine ready', { version: BERTH_VERSION, runtime: engine.runtime.name });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('stopping', { signal });
    for (const server of servers) server.close();
    await engine.close();
    for (const server of servers) server.closeAllConnections();
    await Promise.all(sockets.map((s) => fs.rm(s, { force: true })));
    if (values.pidfile) await fs.rm(values.pidfile, { force: true });
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** What containers get from the engine's settings when their own configuration does not say. */
function containerDefaults(s: DaemonSettings): ContainerDefaults {
  return {
    init: s.init ?? false,
    ipcMode: s.defaultIpcMode,
    cgroupnsMode: s.defaultCgroupnsMode,
    shmSize: s.defaultShmSize === undefined ? undefined : parseByteSize(s.defaultShmSize),
    ulimits: Object.entries(s.defaultUlimits ?? {}).map(([name, l]) => ({
      Name: name,
      Soft: l.Soft,
      Hard: l.Hard,
    })),
    noNewPrivileges: s.noNewPrivileges ?? false,
    dnsSearch: s.dnsSearch ?? [],
    dnsOptions: s.dnsOptions ?? [],
  };
}

process.on('unhandledRejection', (err) =>
  log.error('unhandled rejection', { error: String((err as Error)?.stack ?? err) }),
);
void main();
