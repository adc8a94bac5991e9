// The VM's costs (issue 8): cold boot to a ready engine; `docker ps` through
// the VM's socket against Berth's engine run natively, samples alternating so
// the machine's changing load hits both alike; port-forward throughput on the
// host's loopback, each way; shared-folder throughput (10,000 small files, one large
// file) for each share type, with the VM's own disk alongside. Run through
// `npm run bench -- vm` (its own network namespace; BERTH_VM_BENCH_QUICK=1 for
// a short smoke run). Under TCG every number is the emulator's; compare them
// only on an idle machine.
import { mkdtempSync, promises as fs } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../guest-agent/util/subprocess.js';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import { vmImage, VM_TEST_CACHE } from '../test/fixtures/vm-image.js';
import { docker } from '../test/helpers/docker.js';
import { chooseShareType } from '../vm/machine.js';
import { processAlive } from '../vm/state.js';
import { alternate, median, repoRoot, requirePrivateNetns, startBerth, timed } from './subjects.js';

// BERTH_VM_BENCH_QUICK=1: a smoke run (fewer files, smaller transfers) that only checks the bench works.
const QUICK = process.env.BERTH_VM_BENCH_QUICK === '1';
const PS_SAMPLES = QUICK ? 5 : 20;
const SMALL_FILES = QUICK ? 300 : 10_000;
const LARGE_FILE_MIB = QUICK ? 8 : 64;
const FORWARD_MIB = QUICK ? 8 : 64;

interface Result {
  key: string;
  label: string;
  value: number;
  unit: string;
  /** What it is compared with, where there is something. */
  reference?: { label: string; value: number };
  target?: string;
}

class Vm {
  readonly home = mkdtempSync(path.join(tmpdir(), 'berth-vm-bench-'));
  readonly host = `unix://${path.join(this.home, 'docker.sock')}`;

  constructor(
    readonly shared: string,
    private readonly shareType: string,
  ) {}

  berth(args: string[], timeoutMs = 600_000) {
    return run(process.execPath, [path.join(repoRoot, 'bin', 'berth'), ...args], {
      env: {
        BERTH_HOME: this.home,
        BERTH_CACHE: VM_TEST_CACHE,
        BERTH_ACCEL: process.env.BERTH_ACCEL ?? 'tcg',
        BERTH_SHARES: this.shared,
        BERTH_SHARE_TYPE: this.shareType,
        BERTH_PORTS_LOOPBACK_ONLY: '1',
      },
      allowFailure: true,
      timeoutMs,
    });
  }

  /** Boots the VM; the boot time QEMU-start to engine-ready, in ms. */
  async start(): Promise<number> {
    const r = await this.berth(['vm', 'start']);
    if (r.exitCode !== 0) throw new Error(`vm start (${this.shareType}): ${r.stdout}${r.stderr}`);
    const state = JSON.parse(await fs.readFile(path.join(this.home, 'vm', 'state.json'), 'utf8')) as {
      bootMs: number;
    };
    return state.bootMs;
  }

  /**
   * Runs a shell command in the VM and returns how long it took there, timed
   * by the guest (/proc/uptime, 10 ms steps) so that the channel's own cost is
   * left out.
   */
  async timedInGuest(script: string): Promise<number> {
    const wrapped = `read t0 _ < /proc/uptime; { ${script}; } || exit 1; read t1 _ < /proc/uptime; echo "$t0 $t1"`;
    const r = await this.berth(['vm', 'ssh', '--', 'sh', '-c', wrapped]);
    if (r.exitCode !== 0) throw new Error(`in the VM: ${script}: ${r.stdout}${r.stderr}`);
    const [t0, t1] = r.stdout.trim().split('\n').at(-1)!.split(' ').map(Number);
    return Math.max(10, (t1 - t0) * 1000);
  }

  async stop(): Promise<void> {
    await this.berth(['vm', 'stop']);
    const state = JSON.parse(
      await fs.readFile(path.join(this.home, 'vm', 'state.json'), 'utf8').catch(() => '{}'),
    ) as { pid?: number; qemuPid?: number };
    for (const pid of [state.pid, state.qemuPid]) if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await fs.rm(this.home, { recursive: true, force: true });
  }
}

/**
 * Bytes pushed through a forwarded port to a container that discards them,
 * and pulled from one that writes zeros, in MB/s (host → container, container → host).
 */
async function forwardThroughput(vm: Vm): Promise<{ toContainer: number; fromContainer: number }> {
  const freePort = async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    return port;
  };
  const inPort = await freePort();
  const outPort = await freePort();
  const bytes = FORWARD_MIB * 1024 * 1024;
  // Each connection's bytes read to the end and dropped, or FORWARD_MIB MiB written (nc alone
  // would close at its own stdin's EOF); busybox nc's -ll -e is a server that stays up. The
  // bytes come from dd in 64 KiB blocks: busybox head's small writes alone top out near 30 MB/s
  // under TCG, below what the forwarding carries.
  const sink = await docker({ host: vm.host }, [
    'run',
    '-d',
    '--name',
    'sink',
    '-p',
    `127.0.0.1:${inPort}:5000`,
    '-p',
    `127.0.0.1:${outPort}:5001`,
    'busybox',
    'sh',
    '-c',
    `nc -ll -p 5001 -e sh -c 'dd if=/dev/zero bs=65536 count=${bytes / 65536} 2>/dev/null' & exec nc -ll -p 5000 -e sh -c 'cat > /dev/null'`,
  ]);
  if (sink.code !== 0) throw new Error(`sink container: ${sink.stderr}`);
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const send = (mib: number) =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect(inPort, '127.0.0.1');
      s.on('error', reject);
      s.on('connect', async () => {
        for (let i = 0; i < mib; i++) if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
        s.end();
      });
      s.on('close', () => resolve());
      s.resume();
    });
  const receive = () =>
    new Promise<number>((resolve, reject) => {
      const s = net.connect(outPort, '127.0.0.1');
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('error', reject);
      s.on('close', () => resolve(n));
    });
  // The host listeners open when the engine's port event reaches the VM process.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await vm.berth(['vm', 'status']);
    if (
      status.stdout.includes(`127.0.0.1:${inPort}/tcp`) &&
      status.stdout.includes(`127.0.0.1:${outPort}/tcp`)
    )
      break;
    if (Date.now() > deadline) {
      const ps = await docker({ host: vm.host }, ['ps', '-a']);
      const logs = await docker({ host: vm.host }, ['logs', 'sink']);
      throw new Error(
        `ports ${inPort}, ${outPort} were not forwarded within 60 s:\n${status.stdout}\n${ps.stdout}\n${logs.stdout}${logs.stderr}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await send(1); // warm-up: the first connection through the new listener
  const inMs = await timed(() => send(FORWARD_MIB));
  let received = 0;
  const outMs = await timed(async () => {
    received = await receive();
  });
  await docker({ host: vm.host }, ['rm', '-f', 'sink']);
  if (received !== bytes) throw new Error(`container → host: ${received} bytes of ${bytes}`);
  const mbs = (ms: number) => (FORWARD_MIB * 1.048576) / (ms / 1000);
  return { toContainer: mbs(inMs), fromContainer: mbs(outMs) };
}

/** Small files written and read back, and one large file written and read, in a folder in the VM. */
async function folderThroughput(vm: Vm, dir: string, name: string, out: Result[]): Promise<void> {
  // Dropped from the guest's page cache before each read, so reads go to the share (or the disk).
  const dropCaches = 'sync; echo 3 > /proc/sys/vm/drop_caches';
  await vm.timedInGuest(`mkdir -p ${dir}/small`);
  const small = await vm.timedInGuest(
    `cd ${dir}/small && i=0; while [ $i -lt ${SMALL_FILES} ]; do echo $i > f$i; i=$((i+1)); done`,
  );
  await vm.timedInGuest(dropCaches);
  const readSmall = await vm.timedInGuest(`cat ${dir}/small/* > /dev/null`);
  const large = await vm.timedInGuest(
    `dd if=/dev/zero of=${dir}/large bs=1M count=${LARGE_FILE_MIB} conv=fsync 2>/dev/null`,
  );
  await vm.timedInGuest(dropCaches);
  const readLarge = await vm.timedInGuest(`dd if=${dir}/large of=/dev/null bs=1M 2>/dev/null`);
  await vm.timedInGuest(`rm -rf ${dir}/small ${dir}/large`);
  const mbs = (ms: number) => (LARGE_FILE_MIB * 1.048576) / (ms / 1000);
  out.push(
    {
      key: `${name}-small-write`,
      label: `${name}: write ${SMALL_FILES} small files`,
      value: small,
      unit: 'ms',
    },
    {
      key: `${name}-small-read`,
      label: `${name}: read ${SMALL_FILES} small files`,
      value: readSmall,
      unit: 'ms',
    },
    {
      key: `${name}-large-write`,
      label: `${name}: write ${LARGE_FILE_MIB} MiB`,
      value: mbs(large),
      unit: 'MB/s',
    },
    {
      key: `${name}-large-read`,
      label: `${name}: read ${LARGE_FILE_MIB} MiB`,
      value: mbs(readLarge),
      unit: 'MB/s',
    },
  );
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  await vmImage(); // up to date, or built from the cached packages
  const image = await busyboxArchive();
  const shared = mkdtempSync(path.join(tmpdir(), 'berth-vm-bench-share-'));
  const results: Result[] = [];
  // Each share type needs its own boot; virtiofs only where it can run (a Linux host, as root).
  const types = chooseShareType('auto') === 'virtiofs' && !QUICK ? ['virtiofs', '9p'] : ['9p'];
  try {
    for (const [i, type] of types.entries()) {
      const vm = new Vm(shared, type);
      try {
        console.log(`booting the VM (${type} shares) …`);
        const bootMs = await vm.start();
        if (i === 0) {
          results.push({
            key: 'cold-boot',
            label: 'cold boot to engine ready (first boot: the data disk is formatted)',
            value: bootMs,
            unit: 'ms',
            target: '≤ 12000 ms under TCG',
          });
          console.log(`booted in ${(bootMs / 1000).toFixed(1)} s; docker ps, VM and native …`);
          const load = await docker({ host: vm.host }, ['load', '-i', image]);
          if (load.code !== 0) throw new Error(`docker load: ${load.stderr}`);
          const native = await startBerth();
          try {
            await docker({ host: native.host }, ['load', '-i', image]);
            const [viaVm, direct] = await alternate(
              [
                { ...native, name: 'vm', host: vm.host },
                { ...native, name: 'native', host: native.host },
              ],
              PS_SAMPLES,
              (s) => docker({ host: s.host }, ['ps']),
            );
            results.push({
              key: 'docker-ps',
              label: '`docker ps` through the VM',
              value: median(viaVm!),
              unit: 'ms',
              reference: { label: 'native engine', value: median(direct!) },
              target: '≤ native + 5 ms',
            });
          } finally {
            await native.stop();
          }
          console.log('port forward …');
          const forward = await forwardThroughput(vm);
          results.push(
            {
              key: 'port-forward',
              label: `port forward, ${FORWARD_MIB} MiB host → container`,
              value: forward.toContainer,
              unit: 'MB/s',
              target: '≥ 125 MB/s (1 Gbit/s)',
            },
            {
              key: 'port-forward-out',
              label: `port forward, ${FORWARD_MIB} MiB container → host`,
              value: forward.fromContainer,
              unit: 'MB/s',
              target: '≥ 125 MB/s (1 Gbit/s)',
            },
          );
          console.log('the VM disk …');
          await folderThroughput(vm, '/var/lib/berth/bench', 'VM disk', results);
        }
        console.log(`the shared folder (${type}) …`);
        await folderThroughput(vm, path.join(shared, 'bench'), `shared folder (${type})`, results);
      } finally {
        await vm.stop();
      }
    }
  } finally {
    await fs.rm(shared, { recursive: true, force: true });
  }
  const width = Math.max(...results.map((r) => r.label.length));
  for (const r of results) {
    const ref = r.reference ? `  (${r.reference.label}: ${r.reference.value.toFixed(1)} ${r.unit})` : '';
    console.log(
      `${r.label.padEnd(width)}  ${r.value.toFixed(1).padStart(9)} ${r.unit}${ref}${r.target ? `  target ${r.target}` : ''}`,
    );
  }
  const file = path.join(repoRoot, '.test-artifacts', 'bench-vm.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n');
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

await main();
