// The userland proxy, in-process: one listening socket per published host
// address and port, relaying TCP connections and UDP datagrams to the container.
// It carries what the kernel NAT cannot (connections to loopback, a container
// reaching its own published port, IPv6 to an IPv4-only container). Without a
// target it only holds the port, so nothing else can take it.
import dgram from 'node:dgram';
import net from 'node:net';

export interface ProxyTarget {
  ip: string;
  port: number;
}

export interface ProxyHandle {
  close(): Promise<void>;
}

/** dockerd's proxy forgets an idle UDP "connection" after 90 s. */
const UDP_IDLE_MS = 90_000;

/** Binds a TCP listener; rejects with the bind error (code EADDRINUSE, …) when the port cannot be had. */
export function listenTcp(hostIp: string, hostPort: number, target?: ProxyTarget): Promise<ProxyHandle> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  // No Nagle delay, as Go's docker-proxy: request/response protocols would otherwise stall.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    track(client);
    if (!target) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: target.ip, port: target.port, allowHalfOpen: true, noDelay: true });
    track(upstream);
    // A FIN from one side is passed on (pipe ends the other), so half-closed protocols work.
    client.pipe(upstream);
    upstream.pipe(client);
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    client.on('close', () => upstream.writableEnded || upstream.destroy());
    upstream.on('close', () => client.writableEnded || client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: hostIp, port: hostPort, ipv6Only: net.isIPv6(hostIp), exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Binds a UDP socket; datagrams from each client go out of their own socket, so replies find their way back. */
export function listenUdp(hostIp: string, hostPort: number, target?: ProxyTarget): Promise<ProxyHandle> {
  const v6 = net.isIPv6(hostIp);
  const server = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
  const flows = new Map<string, { socket: dgram.Socket; timer: NodeJS.Timeout }>();
  const closeFlow = (key: string) => {
    const flow = flows.get(key);
    if (!flow) return;
    flows.delete(key);
    clearTimeout(flow.timer);
    flow.socket.close();
  };
  server.on('message', (msg, from) => {
    if (!target) return;
    const key = `${from.address}|${from.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const socket = dgram.createSocket(net.isIPv6(target.ip) ? 'udp6' : 'udp4');
      socket.on('message', (reply) => {
        const f = flows.get(key);
        if (f) f.timer.refresh();
        server.send(reply, from.port, from.address);
      });
      socket.on('error', () => closeFlow(key));
      flow = { socket, timer: setTimeout(() => closeFlow(key), UDP_IDLE_MS) };
      flow.timer.unref();
      flows.set(key, flow);
    } else flow.timer.refresh();
    flow.socket.send(msg, target.port, target.ip);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const key of [...flows.keys()]) closeFlow(key);
            server.close(() => done());
          }),
      });
    });
  });
}
