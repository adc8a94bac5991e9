// 127.0.0.11 inside a container, as with dockerd. dockerd runs its resolver in
// each container's namespace; Berth's listens once per user network on the
// gateway (embedded-dns.ts says why), so the container's own namespace sends
// 127.0.0.11:53 there instead: DNAT in its nat table, the loopback source
// rewritten to its own address on the way out (the gateway could not answer a
// 127.x source), and route_localnet so the kernel lets a loopback-sourced packet
// leave by eth0 at all. That sysctl would also let neighbours reach the
// container's loopback services; the raw-table rule drops any packet for 127/8
// that did not come from lo, so nothing but the redirected replies gets in.
export const EMBEDDED_DNS_IP = '127.0.0.11';

export const DNS_REDIRECT_SYSCTLS: Readonly<Record<string, string>> = {
  'net/ipv4/conf/all/route_localnet': '1',
};

const OUTPUT_CHAIN = 'BERTH_DNS_OUTPUT';
const POSTROUTING_CHAIN = 'BERTH_DNS_POSTROUTING';

/**
 * `iptables-restore --noflush` input sending 127.0.0.11:53 (UDP and TCP) to
 * `gateway` (none: nothing, the chains left empty). Declaring the chains empties
 * them, so applying it again retargets the redirect; the jumps into them and the
 * loopback guard go in once (`install`).
 */
export function dnsRedirectRules(gateway: string | undefined, install: boolean): string {
  const lines = [];
  if (install) {
    lines.push('*raw', `-A PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP`, 'COMMIT');
  }
  lines.push('*nat', `:${OUTPUT_CHAIN} - [0:0]`, `:${POSTROUTING_CHAIN} - [0:0]`);
  if (install) {
    lines.push(`-A OUTPUT -d ${EMBEDDED_DNS_IP}/32 -j ${OUTPUT_CHAIN}`);
    lines.push(`-A POSTROUTING -s 127.0.0.0/8 -j ${POSTROUTING_CHAIN}`);
  }
  if (gateway) {
    for (const proto of ['udp', 'tcp']) {
      lines.push(`-A ${OUTPUT_CHAIN} -p ${proto} --dport 53 -j DNAT --to-destination ${gateway}:53`);
      lines.push(`-A ${POSTROUTING_CHAIN} -d ${gateway}/32 -p ${proto} --dport 53 -j MASQUERADE`);
    }
  }
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}
