// What the runtime tests run: an exec process and a container spec's input, as
// root with PATH=/bin and nothing else.
import {
  buildExecProcess,
  type ContainerSpecInput,
  type OciProcess,
} from '../../guest-agent/runtime/oci-spec.js';

export function rootExec(args: string[], tty = false): OciProcess {
  return buildExecProcess({
    args,
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    tty,
    privileged: false,
    capAdd: [],
    capDrop: [],
  });
}

/** A container spec's input with nothing but the command: root, host network, no limits. */
export function plainSpecInput(id: string, rootfsPath: string, args: string[]): ContainerSpecInput {
  return {
    id,
    rootfsPath,
    args,
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: 'berth-test',
    tty: false,
    readonlyRootfs: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    resources: {},
    network: { mode: 'host' },
    mounts: [],
    cgroupsPath: `/${id}`,
  };
}
