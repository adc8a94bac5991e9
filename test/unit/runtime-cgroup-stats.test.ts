// Reading a container's counters from cgroup v1 and v2 trees (fixture files laid
// out as the kernel shows them), the sampler's stream, and the JSON dockerd writes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cgroupVersionAt,
  parseBlkioV1,
  parseIoStatV2,
  readCgroupStats,
} from '../../guest-agent/runtime/cgroup-stats.js';
import { emptySample, encodeStats, parseNetDev, StatsSampler } from '../../guest-agent/engine/stats.js';
import type { ContainerRecord } from '../../guest-agent/engine/container-store.js';
import { EngineError } from '../../guest-agent/errors.js';

const CG = '/berth/abc';
let tmp: string;

async function write(root: string, rel: string, text: string): Promise<void> {
  const file = path.join(root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cgstats-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function v1Tree(): Promise<string> {
  const root = path.join(tmp, 'v1');
  await write(root, `cpuacct${CG}/cpuacct.usage`, '5000000000\n');
  await write(root, `cpuacct${CG}/cpuacct.usage_percpu`, '3000000000 2000000000 \n');
  await write(root, `cpuacct${CG}/cpuacct.stat`, 'user 300\nsystem 150\n');
  await write(root, `cpu${CG}/cpu.stat`, 'nr_periods 10\nnr_throttled 2\nthrottled_time 123456\n');
  await write(root, `memory${CG}/memory.usage_in_bytes`, '52428800\n');
  await write(root, `memory${CG}/memory.max_usage_in_bytes`, '60000000\n');
  await write(root, `memory${CG}/memory.failcnt`, '0\n');
  await write(root, `memory${CG}/memory.limit_in_bytes`, '9223372036854771712\n');
  await write(
    root,
    `memory${CG}/memory.stat`,
    'cache 4096\nrss 40000000\nshmem 0\ninactive_file 4096\nhierarchical_memory_limit 9223372036854771712\n' +
      'total_cache 8192\ntotal_rss 40000000\ntotal_inactive_file 8192\n',
  );
  await write(
    root,
    `blkio${CG}/blkio.throttle.io_service_bytes_recursive`,
    '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n',
  );
  await write(root, `blkio${CG}/blkio.throttle.io_serviced_recursive`, '8:0 Read 1\n8:0 Write 2\nTotal 3\n');
  await write(root, `pids${CG}/pids.current`, '3\n');
  await write(root, `pids${CG}/pids.max`, 'max\n');
  return root;
}

async function v2Tree(): Promise<string> {
  const root = path.join(tmp, 'v2');
  await write(root, 'cgroup.controllers', 'cpuset cpu io memory pids\n');
  await write(
    root,
    `${CG}/cpu.stat`,
    'usage_usec 5000000\nuser_usec 3000000\nsystem_usec 2000000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 250\n',
  );
  await write(root, `${CG}/memory.current`, '67108864\n');
  await write(root, `${CG}/memory.max`, '134217728\n');
  await write(root, `${CG}/memory.stat`, 'anon 50000000\nfile 17108864\ninactive_file 1048576\nshmem 0\n');
  await write(root, `${CG}/memory.events`, 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n');
  await write(root, `${CG}/io.stat`, '8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n');
  await write(root, `${CG}/pids.current`, '5\n');
  await write(root, `${CG}/pids.max`, '100\n');
  return root;
}

test('cgroup v1: CPU from cpuacct, memory with the total_ keys, throttle blkio, pids', async () => {
  const root = await v1Tree();
  assert.equal(await cgroupVersionAt(root), 1);
  const s = await readCgroupStats(root, CG);
  assert.ok(s);
  assert.deepEqual(s.cpu.usage, {
    total_usage: 5_000_000_000n,
    percpu_usage: [3_000_000_000n, 2_000_000_000n],
    usage_in_kernelmode: 1_500_000_000n,
    usage_in_usermode: 3_000_000_000n,
  });
  assert.deepEqual(s.cpu.throttling, { periods: 10n, throttled_periods: 2n, throttled_time: 123456n });
  assert.equal(s.memory.usage, 52428800n);
  assert.equal(s.memory.max_usage, 60000000n);
  assert.equal(s.memory.limit, 9223372036854771712n);
  assert.equal(s.memory.stats.total_inactive_file, 8192n);
  assert.equal(s.memory.stats.hierarchical_memory_limit, 9223372036854771712n);
  assert.equal(s.memory.stats.total_pgfault, 0n, 'every key dockerd lists, zero when missing');
  assert.equal('shmem' in s.memory.stats, false, 'only the keys dockerd lists');
  assert.equal(Object.keys(s.memory.stats).length, 32);
  assert.deepEqual(
    s.blkio.io_service_bytes_recursive?.map((e) => `${e.major}:${e.minor} ${e.op} ${e.value}`),
    ['8:0 Read 4096', '8:0 Write 8192', '8:0 Sync 0', '8:0 Async 12288', '8:0 Discard 0', '8:0 Total 12288'],
  );
  assert.equal(s.blkio.io_serviced_recursive?.length, 2);
  assert.deepEqual(s.blkio.io_queue_recursive, [], 'v1 lists are empty, not null');
  assert.deepEqual(s.pids, { current: 3n, limit: 0n });
});

test('cgroup v2: cpu.stat in µs as ns, memory.max and oom events, io.stat as read/write entries', async () => {
  const root = await v2Tree();
  assert.equal(await cgroupVersionAt(root), 2);
  const s = await readCgroupStats(root, CG);
  assert.ok(s);
  assert.deepEqual(s.cpu.usage, {
    total_usage: 5_000_000_000n,
    usage_in_kernelmode: 2_000_000_000n,
    usage_in_usermode: 3_000_000_000n,
  });
  assert.deepEqual(s.cpu.throttling, { periods: 4n, throttled_periods: 1n, throttled_time: 250_000n });
  assert.equal(s.memory.usage, 67108864n);
  assert.equal(s.memory.limit, 134217728n);
  assert.equal(s.memory.failcnt, 2n);
  assert.equal(s.memory.max_usage, undefined);
  assert.equal(s.memory.stats.inactive_file, 1048576n);
  assert.equal(Object.keys(s.memory.stats).length, 31);
  assert.deepEqual(
    s.blkio.io_service_bytes_recursive?.map((e) => `${e.major}:${e.minor} ${e.op} ${e.value}`),
    ['8:0 read 1024', '8:0 write 2048'],
  );
  assert.equal(s.blkio.io_serviced_recursive, null);
  assert.deepEqual(s.pids, { current: 5n, limit: 100n });

  await write(root, `${CG}/memory.max`, 'max\n');
  assert.equal((await readCgroupStats(root, CG))?.memory.limit, 2n ** 64n - 1n);
});

test('a cgroup that is gone reads as undefined', async () => {
  assert.equal(await readCgroupStats(await v1Tree(), '/berth/gone'), undefined);
  assert.equal(await readCgroupStats(await v2Tree(), '/berth/gone'), undefined);
});

test('blkio and io.stat parsers skip what is not a device line', () => {
  assert.deepEqual(parseBlkioV1('Total 0\n'), []);
  assert.deepEqual(
    parseBlkioV1('8:16 77\n').map((e) => [e.op, e.value]),
    [['', 77n]],
  );
  assert.equal(parseIoStatV2(''), null);
});

test('/proc/<pid>/net/dev: the container’s interfaces without loopback', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1296      12    0    1    0     0          0         0      602       7    2    0    0     0       0          0
`;
  assert.deepEqual(parseNetDev(text), {
    eth0: {
      rx_bytes: 1296n,
      rx_packets: 12n,
      rx_errors: 0n,
      rx_dropped: 1n,
      tx_bytes: 602n,
      tx_packets: 7n,
      tx_errors: 2n,
      tx_dropped: 0n,
    },
  });
});

function record(over: Partial<ContainerRecord['State']> = {}): ContainerRecord {
  return {
    Id: 'abc',
    Name: '/web',
    HostConfig: { NetworkMode: 'bridge' },
    State: { Running: true, Restarting: false, Pid: 0, ...over },
  } as unknown as ContainerRecord;
}

test('the JSON is dockerd’s: field order, exact uint64s, omitempty', async () => {
  const root = await v1Tree();
  const proc = path.join(tmp, 'proc');
  await write(proc, 'stat', 'cpu  100 0 50 1000 10 0 5 7 0 0\ncpu0 1 2 3\n');
  const sampler = new StatsSampler(
    { get: () => record() },
    {
      cgroupRoot: root,
      cgroupPathOf: (id) => `/berth/${id}`,
      procRoot: proc,
      machineMemory: 8n * 1024n ** 3n,
    },
  );
  const sample = await sampler.sample(record());
  assert.ok(sample);
  const json = encodeStats(sample);
  assert.deepEqual(Object.keys(JSON.parse(json) as object), [
    'read',
    'preread',
    'pids_stats',
    'blkio_stats',
    'num_procs',
    'storage_stats',
    'cpu_stats',
    'precpu_stats',
    'memory_stats',
    'name',
    'id',
  ]);
  assert.match(json, /"hierarchical_memory_limit":9223372036854771712[,}]/);
  assert.match(json, /"pids_stats":\{"current":3\}/);
  // user+nice+system+idle+iowait+irq+softirq = 1165 ticks at 100 Hz; steal is not counted.
  assert.match(json, /"system_cpu_usage":11650000000,/);
  assert.match(
    json,
    /"precpu_stats":\{"cpu_usage":\{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0\},"throttling_data":\{"periods":0,"throttled_periods":0,"throttled_time":0\}\}/,
  );
  const mem = (JSON.parse(json) as { memory_stats: Record<string, unknown> }).memory_stats;
  assert.equal(mem.limit, 8 * 1024 ** 3, 'no limit of its own: the machine’s memory');
  assert.equal('failcnt' in mem, false, 'zero is left out');
  assert.match(json, /"read":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"/);

  const empty = encodeStats(emptySample(record({ Running: false })));
  assert.equal(
    empty,
    '{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},"blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"memory_stats":{},"name":"/web","id":"abc"}',
  );
});

test('the sampler: stream=false primes once; a stream chains precpu and ends when the container goes', async () => {
  const root = await v2Tree();
  let removed = false;
  const source = {
    get: () => {
      if (removed) throw new EngineError('not-found', 'No such container: abc');
      return record();
    },
  };
  const sampler = new StatsSampler(source, { cgroupRoot: root, intervalMs: 20 });
  const once = [];
  for await (const s of sampler.samples('abc', { stream: false, oneShot: false })) once.push(s);
  assert.equal(once.length, 1);
  assert.notEqual(once[0]!.preread, '0001-01-01T00:00:00Z', 'the second sample, with the first as base');

  const streamed = [];
  for await (const s of sampler.samples('abc', { stream: true, oneShot: false })) {
    streamed.push(s);
    if (streamed.length === 3) removed = true;
  }
  assert.equal(streamed.length, 3);
  assert.equal(streamed[0]!.preread, '0001-01-01T00:00:00Z');
  assert.equal(streamed[2]!.preread, streamed[1]!.read);
  assert.deepEqual(streamed[2]!.precpu_stats, streamed[1]!.cpu_stats);

  removed = false;
  const stopped = new StatsSampler({ get: () => record({ Running: false }) }, { cgroupRoot: root });
  const answers = [];
  for await (const s of stopped.samples('abc', { stream: false, oneShot: false })) answers.push(s);
  assert.equal(answers.length, 1);
  assert.equal(answers[0]!.read, '0001-01-01T00:00:00Z');
});
