// The host↔guest control protocol: what the host may ask of the guest's control
// server over the one ssh2 connection (vm/ is the client, guest-agent/control the server).

/** The virtio-serial port's name; the guest sees it as /dev/virtio-ports/<name>. */
export const CONTROL_PORT_NAME = 'berth.0';

/** The engine's socket inside the guest: the only socket the host may tunnel to. */
export const GUEST_ENGINE_SOCKET = '/run/berth/docker.sock';

/** The engine's data root inside the guest: the persistent disk is mounted here. */
export const GUEST_DATA_ROOT = '/var/lib/berth';

/** The user name the host authenticates as (keys, not the name, are what count). */
export const CONTROL_USER = 'berth';

/** Kernel command-line parameter carrying the host's public key (the base64 blob of an ssh-ed25519 key). */
export const AUTHORIZED_KEY_PARAM = 'berth.key';

/**
 * Kernel command-line parameter, one per shared folder: `berth.share=TYPE:TAG:HEXPATH`
 * (TYPE virtiofs or 9p, TAG the device's mount tag, HEXPATH the folder's absolute
 * path in hex). The guest init mounts the share at that same path.
 */
export const SHARE_PARAM = 'berth.share';

/**
 * Kernel command-line parameter carrying the engine's daemon.json (the desktop's log driver and
 * daemon.json settings) in hex; the guest init writes it out and starts the engine with --config-file.
 */
export const DAEMON_CONFIG_PARAM = 'berth.daemon';

/** The kernel's command-line limit on x86 and arm64 (COMMAND_LINE_SIZE), terminator included. */
export const KERNEL_CMDLINE_MAX = 2048;

/**
 * The control server's own socket inside the guest: `berth vm ssh` reaches it
 * through the host's channel (a streamlocal tunnel from the VM process) and
 * runs an ssh2 session of its own over it, authenticated with the same key.
 */
export const GUEST_CONTROL_SOCKET = '/run/berth/control.sock';

/**
 * Commands the host runs with `exec` on the control connection. They all start
 * with "berth:"; any other exec is a shell command run as root (`berth vm ssh -- CMD`).
 */
export const CONTROL_COMMANDS = {
  /** Stop the engine cleanly, unmount the data disk and power off. */
  shutdown: 'berth:shutdown',
  /** Answers "ok": the control server is up. */
  ping: 'berth:ping',
  /** `berth:udp-forward IP PORT`: datagrams to and from a guest address, framed (common/udp-frames.ts). */
  udpForward: 'berth:udp-forward',
  /** `berth:time-sync MILLISECONDS`: set the guest's clock to the host's (after the host slept). */
  timeSync: 'berth:time-sync',
  /**
   * Streams the TCP ports listening and the UDP ports served in the VM's own network
   * namespace (`--network host` containers): one JSON line, a ListeningPort[] (each
   * with its proto), whenever the set changes.
   */
  listeners: 'berth:listeners',
} as const;

export const CONTROL_COMMAND_PREFIX = 'berth:';
