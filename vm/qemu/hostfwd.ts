// QEMU's user-mode network forwarding a host port into the guest itself
// (hostfwd): the fast path for published TCP ports. No process of ours is in
// the way on either side: QEMU accepts on the host and hands the connection to
// the guest's uplink (10.0.2.15, the same port), where the engine's NAT takes it
// to the container (its --forward-iface). Rules are added and removed at run
// time through QMP's human-monitor-command, which answers a failure as text,
// not as a QMP error.
import { USER_NETDEV_ID } from './argv.js';
import { QmpClient } from './qmp.js';

export type HostfwdProto = 'tcp' | 'udp';

/** The monitor command that forwards bind:port on the host to the guest's uplink at the same port. */
export function hostfwdAddCommand(proto: HostfwdProto, bind: string, port: number): string {
  return `hostfwd_add ${USER_NETDEV_ID} ${proto}:${bind}:${port}-:${port}`;
}

export function hostfwdRemoveCommand(proto: HostfwdProto, bind: string, port: number): string {
  return `hostfwd_remove ${USER_NETDEV_ID} ${proto}:${bind}:${port}`;
}

/** What the monitor printed, as an error when it is not the command's success (add: nothing; remove: "removed"). */
export function hostfwdFailure(command: string, reply: string): Error | undefined {
  const text = reply.trim();
  const ok = command.startsWith('hostfwd_add') ? text === '' : /\bremoved$/.test(text);
  return ok ? undefined : new Error(text || `${command}: no answer`);
}

/** Host forwarding rules of one running QEMU, one monitor command at a time. */
export class HostForwards {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly qmpSocket: string) {}

  /** Rejects with QEMU's words when it cannot (the port is taken, the address is not IPv4). */
  add(proto: HostfwdProto, bind: string, port: number): Promise<void> {
    return this.monitor(hostfwdAddCommand(proto, bind, port));
  }

  remove(proto: HostfwdProto, bind: string, port: number): Promise<void> {
    return this.monitor(hostfwdRemoveCommand(proto, bind, port));
  }

  /**
   * A connection per command: QEMU serves one QMP client at a time, and the
   * machine's own shutdown needs it too. Commands keep their order.
   */
  private monitor(command: string): Promise<void> {
    const done = this.queue.then(async () => {
      const qmp = await QmpClient.connect(this.qmpSocket);
      try {
        const reply = await qmp.execute('human-monitor-command', { 'command-line': command });
        const err = hostfwdFailure(command, typeof reply === 'string' ? reply : '');
        if (err) throw err;
      } finally {
        qmp.close();
      }
    });
    this.queue = done.catch(() => undefined);
    return done;
  }
}
