// Berth's packet filter and NAT rules, all in chains of its own (BERTH,
// BERTH-FORWARD, BERTH-POSTROUTING, …) reached by one jump from each built-in
// chain. The whole content of those chains is rendered from the service's
// state and loaded at once with `iptables-restore --noflush`: every change is
// atomic, and a crashed engine's rules are simply replaced.
import { run } from '../util/subprocess.js';

export const CHAINS = {
  filter: ['BERTH-FORWARD', 'BERTH', 'BERTH-ISOLATION-STAGE-1', 'BERTH-ISOLATION-STAGE-2'],
  nat: ['BERTH', 'BERTH-POSTROUTING'],
} as const;

type Table = keyof typeof CHAINS;

export interface BridgeNetworkRules {
  bridge: string;
  /** "172.18.0.0/16" */
  subnet: string;
  internal: boolean;
  masquerade: boolean;
  /** Containers on this network may talk to each other. */
  icc: boolean;
  /** The embedded DNS listener on the gateway, which <gateway>:53 from this bridge is sent to. */
  dns?: { gateway: string; port: number };
}

export interface NatMapping {
  proto: 'tcp' | 'udp';
  /** An IPv4 host address; "0.0.0.0" means every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  bridge: string;
}

export interface RuleState {
  networks: BridgeNetworkRules[];
  mappings: NatMapping[];
}

/** The jumps from the built-in chains into Berth's chains. */
export function jumpRules(userlandProxy: boolean): Array<{ table: Table; chain: string; args: string[] }> {
  return [
    { table: 'filter', chain: 'FORWARD', args: ['-j', 'BERTH-FORWARD'] },
    { table: 'nat', chain: 'PREROUTING', args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'BERTH'] },
    {
      table: 'nat',
      chain: 'OUTPUT',
      // With the proxy, loopback connections go to it; without, the kernel NATs them too.
      args: [
        ...(userlandProxy ? ['!', '-d', '127.0.0.0/8'] : []),
        '-m',
        'addrtype',
        '--dst-type',
        'LOCAL',
        '-j',
        'BERTH',
      ],
    },
    { table: 'nat', chain: 'POSTROUTING', args: ['-j', 'BERTH-POSTROUTING'] },
  ];
}

/**
 * The content of Berth's chains for `iptables-restore --noflush` (declaring a chain flushes it).
 * forwardIface: an interface whose arrivals at a published host port reach the container whatever
 * host address the port was published on (the VM's uplink, where the user's machine forwards ports).
 */
export function renderRules(state: RuleState, userlandProxy: boolean, forwardIface?: string): string {
  const f: string[] = ['*filter', ...CHAINS.filter.map((c) => `:${c} - [0:0]`)];
  f.push('-A BERTH-FORWARD -j BERTH-ISOLATION-STAGE-1');
  for (const n of state.networks) {
    const br = n.bridge;
    f.push(`-A BERTH-FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    f.push(`-A BERTH-FORWARD -o ${br} -j BERTH`);
    f.push(`-A BERTH-FORWARD -i ${br} -o ${br} -j ${n.icc ? 'ACCEPT' : 'DROP'}`);
    if (!n.internal) f.push(`-A BERTH-FORWARD -i ${br} ! -o ${br} -j ACCEPT`);
    // What was not published (BERTH accepts those) does not reach containers from outside.
    f.push(`-A BERTH-FORWARD ! -i ${br} -o ${br} -j DROP`);
  }
  for (const m of state.mappings) {
    f.push(
      `-A BERTH -d ${m.containerIp}/32 ! -i ${m.bridge} -o ${m.bridge} -p ${m.proto} -m ${m.proto} --dport ${m.containerPort} -j ACCEPT`,
    );
  }
  for (const n of state.networks) {
    if (n.internal) {
      f.push(`-A BERTH-ISOLATION-STAGE-1 ! -s ${n.subnet} -o ${n.bridge} -j DROP`);
      f.push(`-A BERTH-ISOLATION-STAGE-1 -i ${n.bridge} ! -d ${n.subnet} -j DROP`);
    } else {
      f.push(`-A BERTH-ISOLATION-STAGE-1 -i ${n.bridge} ! -o ${n.bridge} -j BERTH-ISOLATION-STAGE-2`);
    }
  }
  for (const n of state.networks) f.push(`-A BERTH-ISOLATION-STAGE-2 -o ${n.bridge} -j DROP`);
  f.push('COMMIT');

  const nat: string[] = ['*nat', ...CHAINS.nat.map((c) => `:${c} - [0:0]`)];
  for (const n of state.networks) {
    // Before the published ports: a container's DNS query is never taken for traffic to a published port 53.
    for (const proto of n.dns ? ['udp', 'tcp'] : []) {
      nat.push(
        `-A BERTH -d ${n.dns!.gateway}/32 -i ${n.bridge} -p ${proto} -m ${proto} --dport 53 -j DNAT --to-destination ${n.dns!.gateway}:${n.dns!.port}`,
      );
    }
    if (!n.internal && n.masquerade)
      nat.push(`-A BERTH-POSTROUTING -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`);
    // Loopback connections NATed into the bridge need a source the container can answer.
    if (!userlandProxy)
      nat.push(`-A BERTH-POSTROUTING -o ${n.bridge} -m addrtype --src-type LOCAL -j MASQUERADE`);
  }
  for (const m of state.mappings) {
    const dst = m.hostIp === '0.0.0.0' ? '' : ` -d ${m.hostIp}/32`;
    // With the proxy, a container reaching a published port goes through the proxy (hairpin).
    const notFromBridge = userlandProxy ? ` ! -i ${m.bridge}` : '';
    nat.push(
      `-A BERTH${dst}${notFromBridge} -p ${m.proto} -m ${m.proto} --dport ${m.hostPort} -j DNAT --to-destination ${m.containerIp}:${m.containerPort}`,
    );
    if (!userlandProxy) {
      nat.push(
        `-A BERTH-POSTROUTING -s ${m.containerIp}/32 -d ${m.containerIp}/32 -p ${m.proto} -m ${m.proto} --dport ${m.containerPort} -j MASQUERADE`,
      );
    }
  }
  // After every publication's own rule: on that interface a port published on one address (127.0.0.1)
  // is reached at the interface's own. The first of two publications of one port on two addresses wins.
  if (forwardIface) {
    for (const m of state.mappings.filter((x) => x.hostIp !== '0.0.0.0')) {
      nat.push(
        `-A BERTH -i ${forwardIface} -p ${m.proto} -m ${m.proto} --dport ${m.hostPort} -j DNAT --to-destination ${m.containerIp}:${m.containerPort}`,
      );
    }
  }
  nat.push('COMMIT');
  return [...f, ...nat].join('\n') + '\n';
}

/** Splits an iptables-save rule line into arguments (quoted strings kept whole). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

const OUR_CHAINS = new Set<string>([...CHAINS.filter, ...CHAINS.nat]);

export class Iptables {
  constructor(
    private readonly userlandProxy: boolean,
    private readonly forwardIface?: string,
  ) {}

  /** Removes whatever Berth left (a crashed engine's rules), then makes the chains and jumps. */
  async setup(): Promise<void> {
    await this.teardown();
    await this.apply({ networks: [], mappings: [] });
    for (const j of jumpRules(this.userlandProxy)) {
      // First in the chain, as dockerd puts its jumps, so other rules cannot bypass Berth's.
      await run('iptables', ['-w', '-t', j.table, '-I', j.chain, '1', ...j.args]);
    }
  }

  async apply(state: RuleState): Promise<void> {
    await run('iptables-restore', ['-w', '--noflush'], {
      input: renderRules(state, this.userlandProxy, this.forwardIface),
    });
  }

  /** Deletes the jumps into Berth's chains and the chains themselves. */
  async teardown(): Promise<void> {
    for (const table of Object.keys(CHAINS) as Table[]) {
      const saved = await run('iptables-save', ['-t', table], { allowFailure: true });
      const existing = new Set<string>();
      for (const line of saved.stdout.split('\n')) {
        const decl = /^:(\S+) /.exec(line);
        if (decl) existing.add(decl[1]);
        if (!line.startsWith('-A ')) continue;
        const args = splitRule(line);
        const chain = args[1];
        const target = args[args.indexOf('-j') + 1];
        if (OUR_CHAINS.has(chain) || !OUR_CHAINS.has(target)) continue;
        await run('iptables', ['-w', '-t', table, '-D', ...args.slice(1)], { allowFailure: true });
      }
      const ours = CHAINS[table].filter((c) => existing.has(c));
      if (ours.length === 0) continue;
      const input = [
        `*${table}`,
        ...ours.map((c) => `:${c} - [0:0]`),
        ...ours.map((c) => `-X ${c}`),
        'COMMIT',
        '',
      ];
      await run('iptables-restore', ['-w', '--noflush'], { input: input.join('\n') });
    }
  }

  /** The rules in Berth's chains and the jumps into them, as iptables-save prints them (for diagnostics). */
  static async dump(): Promise<string> {
    const out: string[] = [];
    for (const table of Object.keys(CHAINS) as Table[]) {
      const saved = await run('iptables-save', ['-t', table], { allowFailure: true });
      out.push(...saved.stdout.split('\n').filter((l) => /BERTH/.test(l)));
    }
    return out.join('\n');
  }
}
