// Device nodes for a container's /dev: every host device for a privileged
// container, and the `--device` mappings (HostConfig.Devices) with the cgroup
// rules that let the container use them, as dockerd's oci.DevicesFromPath does.
import { lstatSync, readdirSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { invalid } from '../errors.js';
import type { OciDevice, OciDeviceCgroup } from './oci-spec.js';

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer?: string;
  CgroupPermissions?: string;
}

/** The node of `p` as the runtime recreates it; undefined when `p` is no device. */
function deviceNode(p: string, st: BigIntStats): Omit<OciDevice, 'path'> | undefined {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  const rdev = st.rdev;
  // glibc's major()/minor() of a 64-bit dev_t.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { type, major, minor, fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** Walks the host's /dev for a privileged container, as `docker run --privileged` does. */
export function hostDevices(): OciDevice[] {
  const skipDirs = new Set(['/dev/pts', '/dev/shm', '/dev/fd', '/dev/mqueue', '/dev/.lxc', '/dev/.udev']);
  const out: OciDevice[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = path.join(dir, name);
      // console and ptmx are the container's own (its pty and devpts instance).
      if (skipDirs.has(p) || p === '/dev/console' || p === '/dev/ptmx') continue;
      // lstat: symlinks in /dev (stdin, fd, disk/by-*) are not devices of their own.
      let st;
      try {
        st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st || st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      const node = deviceNode(p, st);
      if (!node) continue;
      const key = `${node.type}${node.major}:${node.minor}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ path: p, ...node });
    }
  };
  walk('/dev');
  return out;
}

/**
 * The nodes and cgroup rules of one `--device` mapping. A directory maps every
 * device below it (its own path swapped for the one in the container); a host
 * path that is no device, or holds none, fails the start as with dockerd.
 */
export function devicesFromMapping(mapping: DeviceMapping): {
  devices: OciDevice[];
  rules: OciDeviceCgroup[];
} {
  const onHost = mapping.PathOnHost;
  const inContainer = mapping.PathInContainer || onHost;
  const access = mapping.CgroupPermissions || 'rwm';
  const fail = (why: string) =>
    invalid(`error gathering device information while adding custom device "${onHost}": ${why}`);
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length)
    throw invalid(`invalid device cgroup permissions "${access}" for "${onHost}": use r, w and m`);
  if (!path.posix.isAbsolute(inContainer))
    throw invalid(`invalid device path in the container "${inContainer}": it must be absolute`);
  let resolved = onHost;
  let st: BigIntStats | undefined;
  try {
    // A symlink (e.g. /dev/stdout style aliases) stands for the node it names.
    resolved = realpathSync(onHost);
    st = statSync(resolved, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
  }
  const devices: OciDevice[] = [];
  const add = (hostPath: string, containerPath: string, s: BigIntStats) => {
    const node = deviceNode(hostPath, s);
    if (node) devices.push({ path: containerPath, ...node });
  };
  if (st.isDirectory()) {
    const walk = (dir: string, target: string) => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const hostPath = path.join(dir, e.name);
        const containerPath = path.posix.join(target, e.name);
        if (e.isDirectory()) walk(hostPath, containerPath);
        else if (e.isCharacterDevice() || e.isBlockDevice()) {
          const s = lstatSync(hostPath, { bigint: true, throwIfNoEntry: false });
          if (s) add(hostPath, containerPath, s);
        }
      }
    };
    walk(resolved, inContainer);
    if (devices.length === 0) throw fail('not a device node');
  } else {
    add(resolved, inContainer, st);
    if (devices.length === 0) throw fail('not a device node');
  }
  const rules: OciDeviceCgroup[] = devices.map((d) => ({
    allow: true,
    type: d.type as 'c' | 'b',
    major: d.major,
    minor: d.minor,
    access,
  }));
  return { devices, rules };
}

const DEVICE_CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** `--device-cgroup-rule 'c 42:* rmw'`: one more allow rule in the device cgroup, as dockerd reads it. */
export function parseDeviceCgroupRule(rule: string): OciDeviceCgroup {
  const m = DEVICE_CGROUP_RULE.exec(rule);
  if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`);
  const number = (s: string) => (s === '*' ? undefined : Number(s));
  const major = number(m[2]!);
  const minor = number(m[3]!);
  return {
    allow: true,
    type: m[1] as OciDeviceCgroup['type'],
    ...(major !== undefined ? { major } : {}),
    ...(minor !== undefined ? { minor } : {}),
    access: m[4]!,
  };
}
