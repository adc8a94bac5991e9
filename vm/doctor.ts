// What this machine has and lacks for Berth, and the command that fixes each
// missing piece: the checks behind `berth doctor` and the dashboard's Machine view.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { guestArch, hostArch } from './paths.js';
import { qemuBinary } from './qemu/argv.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

type Tool = { binary: string; why: string; pkg: string; optional?: boolean };

/** The QEMU for the VM's own architecture (BERTH_ARCH may name another one than the host's). */
function qemuTool(): Tool {
  let arch;
  try {
    arch = guestArch();
  } catch {
    arch = hostArch(); // a bad BERTH_ARCH is said by `berth vm`, not here
  }
  return arch === 'aarch64'
    ? {
        binary: qemuBinary(arch, 'linux'),
        why: 'the Berth VM, aarch64',
        pkg: 'qemu-system-arm',
        optional: true,
      }
    : { binary: qemuBinary(arch, 'linux'), why: 'the Berth VM', pkg: 'qemu-system-x86', optional: true };
}

const TOOLS: Tool[] = [
  { binary: 'runc', why: 'OCI runtime (fallback)', pkg: 'runc' },
  { binary: 'crun', why: 'OCI runtime (default)', pkg: 'crun', optional: true },
  { binary: 'ip', why: 'network namespaces and links', pkg: 'iproute2' },
  { binary: 'iptables', why: 'NAT for published ports', pkg: 'iptables', optional: true },
  { binary: 'mount', why: 'overlay root filesystems', pkg: 'util-linux' },
  { binary: 'nsenter', why: 'entering namespaces', pkg: 'util-linux' },
  { binary: 'setfattr', why: 'opaque directories in image layers', pkg: 'attr' },
  { binary: 'ps', why: 'docker top', pkg: 'procps' },
  { binary: 'qemu-img', why: 'the VM disk', pkg: 'qemu-utils', optional: true },
  { binary: 'docker', why: 'the docker CLI (optional: berth has its own)', pkg: 'docker.io', optional: true },
];

export function hostChecks(): Check[] {
  const checks: Check[] = [];
  const [major] = process.versions.node.split('.').map(Number);
  checks.push({
    name: 'node',
    ok: major >= 20,
    detail: `Node.js ${process.versions.node}`,
    fix: major >= 20 ? undefined : 'install Node.js 20 or newer',
  });
  for (const tool of [...TOOLS, qemuTool()]) {
    const found = findOnPath(tool.binary);
    checks.push({
      name: tool.binary,
      ok: Boolean(found) || Boolean(tool.optional),
      detail: found
        ? `${found} (${tool.why})`
        : `not found (${tool.why})${tool.optional ? ', optional' : ''}`,
      fix: found ? undefined : `apt-get install -y ${tool.pkg}`,
    });
  }
  const mountinfo = existsSync('/proc/self/mountinfo') ? readFileSync('/proc/self/mountinfo', 'utf8') : '';
  const v2Only = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const hybrid = !v2Only && / - cgroup2 /.test(mountinfo) && / - cgroup /.test(mountinfo);
  checks.push({
    name: 'cgroups',
    ok: true,
    detail: v2Only
      ? 'cgroup v2 (unified)'
      : hybrid
        ? 'cgroup v1 with a hybrid cgroup2 mount (crun 1.8 refuses it: the engine runs crun in a private mount namespace without that mount, or runc where even that fails)'
        : 'cgroup v1',
  });
  return checks;
}

export async function engineChecks(docker: Docker, socket: string): Promise<Check[]> {
  try {
    const info = (await docker.info()) as {
      DefaultRuntime?: string;
      Warnings?: string[];
      ServerVersion?: string;
    };
    const checks: Check[] = [
      {
        name: 'engine',
        ok: true,
        detail: `answering on ${socket} (API level of Docker ${info.ServerVersion})`,
      },
      { name: 'runtime', ok: true, detail: `the engine runs containers with ${info.DefaultRuntime}` },
    ];
    for (const warning of info.Warnings ?? [])
      checks.push({ name: 'engine warning', ok: true, detail: warning });
    return checks;
  } catch (err) {
    return [
      {
        name: 'engine',
        ok: false,
        detail: `no engine answers on ${socket} (${(err as Error).message})`,
        fix: 'start it with `npm start` (or `berth vm start` once the VM is available)',
      },
    ];
  }
}
