// Networking, Berth vs dockerd: throughput and connection rate through a port
// published on 127.0.0.1 (loopback → userland proxy → container), and the time
// a container's network setup adds to `docker run`. Both engines run with a
// bridge of their own (dockerd's on another name and subnet than Berth's
// berth0/172.17.0.0/16). Run through `npm run bench -- network`: the engines, their
// bridges, veths and iptables rules, and this process all live in a private
// network namespace, and all traffic goes to 127.0.0.1 in it.
import http from 'node:http';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import {
  measureBoth,
  median,
  must,
  printTable,
  requirePrivateNetns,
  timed,
  writeResults,
  type Row,
  type Subject,
} from './subjects.js';

const PORT = 18080;
const BIG_MIB = 128;
const DOWNLOADS = 5;
const CONN_SECONDS = 3;
const SETUP_SAMPLES = 10;
/** dockerd's default bridge (docker0), kept off Berth's subnet. */
const DOCKERD_BRIDGE = ['--bip', '172.30.0.1/16', '--iptables=true', '--ip6tables=false'];

interface Got {
  status: number;
  bytes: number;
}

/** One GET on a fresh connection (busybox httpd closes after each response anyway). */
function get(pathname: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: PORT, path: pathname, agent: false, timeout: 30_000 },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => void (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${pathname}: timed out`)));
    req.on('error', reject);
  });
}

async function waitForServer(subject: Subject, id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await get('/small').catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) {
      const logs = await must(subject, ['logs', id]).catch((e: Error) => e.message);
      throw new Error(
        `${subject.name}: httpd on 127.0.0.1:${PORT} did not answer within 60 s; logs:\n${logs}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

type Results = Record<string, number>;

async function measureProxy(subject: Subject): Promise<Results> {
  const script = [
    'mkdir -p /srv',
    `dd if=/dev/zero of=/srv/big bs=1M count=${BIG_MIB} 2>/dev/null`,
    'echo ok > /srv/small',
    'exec httpd -f -p 80 -h /srv',
  ].join(' && ');
  const id = (
    await must(subject, ['run', '-d', '-p', `127.0.0.1:${PORT}:80`, 'busybox', 'sh', '-c', script])
  ).trim();
  try {
    await waitForServer(subject, id);
    const expected = BIG_MIB * 1024 * 1024;
    const download = async () => {
      const r = await get('/big');
      if (r.status !== 200 || r.bytes !== expected)
        throw new Error(`${subject.name}: GET /big gave ${r.status} with ${r.bytes} of ${expected} bytes`);
    };
    await download(); // warm-up: page cache, proxy code paths
    const ms = await timed(async () => {
      for (let i = 0; i < DOWNLOADS; i++) await download();
    });
    const throughput = (expected * DOWNLOADS) / 1e6 / (ms / 1000);

    let requests = 0;
    const end = Date.now() + CONN_SECONDS * 1000;
    const t0 = process.hrtime.bigint();
    while (Date.now() < end) {
      const r = await get('/small');
      if (r.status !== 200) throw new Error(`${subject.name}: GET /small gave ${r.status}`);
      requests++;
    }
    const rate = requests / (Number(process.hrtime.bigint() - t0) / 1e9);
    return { throughput, rate };
  } finally {
    await must(subject, ['rm', '-f', id]);
  }
}

async function measure(subject: Subject, image: string): Promise<Results> {
  await must(subject, ['load', '-i', image]);
  const proxy = await measureProxy(subject);
  // Warm both paths, then interleave them so drift hits both alike.
  await must(subject, ['run', '--rm', 'busybox', 'true']);
  await must(subject, ['run', '--rm', '--network', 'none', 'busybox', 'true']);
  const bridged: number[] = [];
  const none: number[] = [];
  for (let i = 0; i < SETUP_SAMPLES; i++) {
    bridged.push(await timed(() => must(subject, ['run', '--rm', 'busybox', 'true'])));
    none.push(await timed(() => must(subject, ['run', '--rm', '--network', 'none', 'busybox', 'true'])));
  }
  const runBridge = median(bridged);
  const runNone = median(none);
  return { ...proxy, runBridge, runNone, setup: runBridge - runNone };
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const image = await busyboxArchive();
  const results = await measureBoth((s) => measure(s, image), DOCKERD_BRIDGE);
  const dockerdPath = results.dockerdPath;

  const b = results.berth;
  const d = results.dockerd;
  const rows: Row[] = [
    {
      key: 'throughput',
      label: `download ${BIG_MIB} MiB × ${DOWNLOADS} via 127.0.0.1:${PORT} → container`,
      unit: 'MB/s',
      berth: b.throughput,
      dockerd: d?.throughput,
      target: { name: 'proxy throughput', minRatio: 1.0 },
    },
    {
      key: 'rate',
      label: `sequential GETs, one connection each (${CONN_SECONDS} s)`,
      unit: 'req/s',
      berth: b.rate,
      dockerd: d?.rate,
    },
    {
      key: 'runBridge',
      label: `docker run --rm busybox true, default network (median of ${SETUP_SAMPLES})`,
      unit: 'ms',
      berth: b.runBridge,
      dockerd: d?.runBridge,
    },
    {
      key: 'runNone',
      label: `docker run --rm --network none busybox true (median of ${SETUP_SAMPLES})`,
      unit: 'ms',
      berth: b.runNone,
      dockerd: d?.runNone,
    },
    {
      key: 'setup',
      label: 'network setup added to docker run (difference of the two above)',
      unit: 'ms',
      berth: b.setup,
      dockerd: d?.setup,
      target: { name: 'network setup', maxValue: 30 },
    },
  ];
  console.log('');
  console.log('targets: throughput ≥ dockerd (docker-proxy); network setup adds ≤ 30 ms to docker run');
  printTable(rows);
  await writeResults('bench-network.json', dockerdPath, rows);
}

await main();
