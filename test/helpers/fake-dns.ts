// A tiny authoritative DNS server over UDP and TCP, standing in for the outside
// resolvers the engine's embedded DNS forwards to. Tests run it on loopback only.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface FakeDns {
  port: number;
  /** "udp:name" / "tcp:name" for every query heard, in order. */
  heard: string[];
  close(): Promise<void>;
}

export interface FakeDnsOptions {
  address: string;
  /** 0 (the default) takes a free port, the same for UDP and TCP. */
  port?: number;
  /** name → IPv4 address; other names get NXDOMAIN. */
  records: Record<string, string>;
  /** Answer UDP queries with the truncated flag and no records (clients must retry over TCP). */
  truncateUdp?: boolean;
}

function answer(msg: Buffer, opts: FakeDnsOptions, truncated: boolean): Buffer {
  const q = dnsPacket.decode(msg);
  const question = q.questions![0];
  const ip = opts.records[question.name.toLowerCase()];
  const found = ip !== undefined && question.type === 'A';
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags:
      dnsPacket.RECURSION_AVAILABLE |
      (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
      (ip === undefined ? 3 : 0), // NXDOMAIN
    questions: q.questions,
    answers: found && !truncated ? [{ type: 'A', name: question.name, ttl: 60, class: 'IN', data: ip }] : [],
  });
}

export async function startFakeDns(opts: FakeDnsOptions): Promise<FakeDns> {
  const heard: string[] = [];
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, from) => {
    heard.push(`udp:${dnsPacket.decode(msg).questions![0].name}`);
    udp.send(answer(msg, opts, opts.truncateUdp ?? false), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(opts.port ?? 0, opts.address, () => resolve());
  });
  const port = udp.address().port;
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        heard.push(`tcp:${dnsPacket.decode(msg).questions![0].name}`);
        const out = answer(msg, opts, false);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        s.write(Buffer.concat([len, out]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, opts.address, () => resolve());
  }).catch((err: unknown) => {
    udp.close();
    throw err;
  });
  return {
    port,
    heard,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}

/** One query over UDP or TCP; resolves with the decoded answer. */
export function queryDns(
  server: { address: string; port: number },
  name: string,
  type: 'A' | 'AAAA' | 'PTR' | 'MX' = 'A',
  transport: 'udp' | 'tcp' = 'udp',
  timeoutMs = 3000,
): Promise<dnsPacket.DecodedPacket & { rcode?: string }> {
  const msg = dnsPacket.encode({
    type: 'query',
    id: Math.floor(Math.random() * 65536),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
  });
  return new Promise((resolve, reject) => {
    let finish: (err?: Error, reply?: Buffer) => void;
    const timer = setTimeout(
      () => finish(new Error(`no DNS answer for ${name} over ${transport}`)),
      timeoutMs,
    );
    if (transport === 'udp') {
      const s = dgram.createSocket('udp4');
      finish = (err, reply) => {
        clearTimeout(timer);
        s.close();
        if (err) reject(err);
        else resolve(dnsPacket.decode(reply!));
      };
      s.on('message', (m) => finish(undefined, m));
      s.on('error', (e) => finish(e));
      s.send(msg, server.port, server.address);
    } else {
      const s = net.connect(server.port, server.address);
      let buf = Buffer.alloc(0);
      finish = (err, reply) => {
        clearTimeout(timer);
        s.destroy();
        if (err) reject(err);
        else resolve(dnsPacket.decode(reply!));
      };
      s.on('error', (e) => finish(e));
      s.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        s.write(Buffer.concat([len, msg]));
      });
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          finish(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    }
  });
}
