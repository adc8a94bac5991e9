// The exec process the runtime tests run: root, PATH=/bin, no tty unless asked.
import { buildExecProcess, type OciProcess } from '../../guest-agent/runtime/oci-spec.js';

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
