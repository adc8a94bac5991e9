// Observability through the real docker CLI and the raw API: `docker stats`
// (CPU, memory with inactive_file, network, block I/O, pids; stream timing),
// `docker events` for networks, volumes and images with dockerd's filters,
// `docker top` with ps options, and the engine's request log.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';

interface StatsRow {
  BlockIO: string;
  CPUPerc: string;
  Container: string;
  ID: string;
  MemPerc: string;
  MemUsage: string;
  Name: string;
  NetIO: string;
  PIDs: string;
}

/** GET over the engine socket; resolves with the status and the body split in lines as they arrived, with times. */
function streamLines(
  socket: string,
  path: string,
  opts: { lines: number; timeoutMs: number },
): Promise<{
  status: number;
  headers: http.IncomingHttpHeaders;
  lines: Array<{ atMs: number; text: string }>;
}> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const lines: Array<{ atMs: number; text: string }> = [];
    const req = http.get({ socketPath: socket, path }, (res) => {
      let buf = '';
      const done = () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, lines });
      };
      const timer = setTimeout(done, opts.timeoutMs);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          lines.push({ atMs: Date.now() - started, text: buf.slice(0, nl) });
          buf = buf.slice(nl + 1);
          if (lines.length >= opts.lines) return done();
        }
      });
      res.on('end', done);
    });
    req.on('error', reject);
  });
}

/** "1.5MiB" / "12kB" / "0B" → bytes. */
function bytesOf(text: string): number {
  const m = /^([\d.]+)\s*([kKMGT]?i?B)$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const units: Record<string, number> = {
    B: 1,
    kB: 1e3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
  };
  return Number(m[1]) * (units[m[2]!] ?? NaN);
}

describe('docker stats', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  async function statsRow(name: string): Promise<StatsRow> {
    const r = await d('stats', '--no-stream', '--format', '{{json .}}', name);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as StatsRow;
  }

  it('shows a CPU-burning container at high CPU, with every column filled', async () => {
    const run = await d('run', '-d', '--name', 'burn', 'busybox', 'sh', '-c', 'while :; do :; done');
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const row = await statsRow('burn');
    assert.equal(row.Name, 'burn');
    assert.equal(row.ID, id.slice(0, 12));
    const cpu = parseFloat(row.CPUPerc);
    // One busy loop is one CPU (100%); the machine is shared, so only "clearly busy" is asked.
    assert.ok(cpu > 20 && cpu <= 100 * 64, `CPU ${row.CPUPerc}`);
    assert.match(row.MemUsage, /^[\d.]+[kKMG]?i?B \/ [\d.]+[kKMG]?i?B$/);
    assert.match(row.NetIO, /^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
    assert.match(row.BlockIO, /^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
    assert.ok(Number(row.PIDs) >= 1, `PIDs ${row.PIDs}`);
    await d('rm', '-f', 'burn');
  });

  it('counts a memory-filling container against its --memory limit, page cache left out', async () => {
    const run = await d(
      'run',
      '-d',
      '--name',
      'fill',
      '--memory',
      '64m',
      'busybox',
      'sh',
      '-c',
      'head -c 40000000 /dev/zero > /dev/shm/fill && echo filled && sleep 600',
    );
    assert.equal(run.code, 0, run.stderr);
    await eventually(async () => (await d('logs', 'fill')).stdout.includes('filled'), 20_000, 'the fill');
    const row = await statsRow('fill');
    const [used, limit] = row.MemUsage.split(' / ');
    assert.equal(limit, '64MiB');
    const usedBytes = bytesOf(used!);
    assert.ok(usedBytes > 35e6 && usedBytes <= 64 * 1024 ** 2, `usage ${row.MemUsage}`);
    const perc = parseFloat(row.MemPerc);
    assert.ok(perc > 50 && perc <= 100, `MemPerc ${row.MemPerc}`);

    // The raw sample: usage, the limit, and v1's total_inactive_file (or v2's inactive_file) for the CLI to subtract.
    const { lines } = await streamLines(engine().socket, '/containers/fill/stats?stream=false', {
      lines: 1,
      timeoutMs: 5000,
    });
    const s = JSON.parse(lines[0]!.text) as {
      memory_stats: { usage: number; limit: number; stats: Record<string, number> };
      pids_stats: { current: number };
      blkio_stats: { io_service_bytes_recursive: unknown[] | null };
      cpu_stats: { online_cpus: number; system_cpu_usage: number };
      precpu_stats: { system_cpu_usage: number };
    };
    assert.equal(s.memory_stats.limit, 64 * 1024 * 1024);
    assert.ok('total_inactive_file' in s.memory_stats.stats || 'inactive_file' in s.memory_stats.stats);
    assert.ok(s.pids_stats.current >= 1);
    assert.ok(s.cpu_stats.online_cpus >= 1);
    assert.ok(
      s.cpu_stats.system_cpu_usage > s.precpu_stats.system_cpu_usage,
      'stream=false sends the second sample',
    );
    assert.ok(
      s.blkio_stats.io_service_bytes_recursive === null ||
        Array.isArray(s.blkio_stats.io_service_bytes_recursive),
    );
    await d('rm', '-f', 'fill');
  });

  it('streams a first sample within 2 s, then one about every second, precpu from the one before', async () => {
    const run = await d('run', '-d', '--name', 'ticker', 'busybox', 'sleep', '600');
    assert.equal(run.code, 0, run.stderr);
    const { status, lines } = await streamLines(engine().socket, '/v1.47/containers/ticker/stats', {
      lines: 4,
      timeoutMs: 8000,
    });
    assert.equal(status, 200);
    assert.equal(lines.length, 4, JSON.stringify(lines));
    assert.ok(lines[0]!.atMs < 2000, `first sample after ${lines[0]!.atMs} ms`);
    for (let i = 1; i < lines.length; i++) {
      const gap = lines[i]!.atMs - lines[i - 1]!.atMs;
      assert.ok(gap > 600 && gap < 1600, `gap ${gap} ms`);
    }
    const samples = lines.map(
      (l) =>
        JSON.parse(l.text) as {
          read: string;
          preread: string;
          cpu_stats: unknown;
          precpu_stats: unknown;
          name: string;
        },
    );
    assert.equal(samples[0]!.preread, '0001-01-01T00:00:00Z');
    assert.equal(samples[0]!.name, '/ticker');
    for (let i = 1; i < samples.length; i++) {
      assert.equal(samples[i]!.preread, samples[i - 1]!.read);
      assert.deepEqual(samples[i]!.precpu_stats, samples[i - 1]!.cpu_stats);
    }
    await d('rm', '-f', 'ticker');
  });

  it('counts received bytes on eth0 after a ping to the gateway', async () => {
    const run = await d('run', '-d', '--name', 'pinger', 'busybox', 'sleep', '600');
    assert.equal(run.code, 0, run.stderr);
    const gw = (await d('inspect', '-f', '{{.NetworkSettings.Gateway}}', 'pinger')).stdout.trim();
    const ping = await d('exec', 'pinger', 'ping', '-c', '3', '-W', '2', gw);
    assert.equal(ping.code, 0, ping.stderr + ping.stdout);
    const { lines } = await streamLines(
      engine().socket,
      '/containers/pinger/stats?stream=false&one-shot=true',
      {
        lines: 1,
        timeoutMs: 5000,
      },
    );
    const s = JSON.parse(lines[0]!.text) as {
      networks: Record<string, { rx_bytes: number; tx_packets: number; rx_packets: number }>;
    };
    assert.deepEqual(Object.keys(s.networks), ['eth0'], 'the container’s own interfaces, no loopback');
    assert.ok(s.networks.eth0!.rx_bytes >= 3 * 84, `rx ${s.networks.eth0!.rx_bytes}`);
    assert.ok(s.networks.eth0!.tx_packets >= 3 && s.networks.eth0!.rx_packets >= 3);
    await d('rm', '-f', 'pinger');
  });

  it('gives a stopped container zeros, as dockerd', async () => {
    const run = await d('create', '--name', 'idle', 'busybox', 'true');
    assert.equal(run.code, 0, run.stderr);
    const row = await statsRow('idle');
    assert.equal(row.CPUPerc, '0.00%');
    assert.equal(row.MemUsage, '0B / 0B');
    assert.equal(row.PIDs, '0');
    const { headers, lines } = await streamLines(engine().socket, '/containers/idle/stats?stream=0', {
      lines: 1,
      timeoutMs: 3000,
    });
    assert.equal(headers['content-type'], 'application/json');
    const s = JSON.parse(lines[0]!.text) as Record<string, unknown>;
    assert.equal(s.read, '0001-01-01T00:00:00Z');
    assert.equal(s.name, '/idle');
    assert.deepEqual(s.memory_stats, {});
    assert.deepEqual(s.pids_stats, {});
    assert.equal(s.networks, undefined);
    await d('rm', 'idle');
  });

  it('answers 404 for a missing container', async () => {
    const r = await d('stats', '--no-stream', 'nothere');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such container: nothere/);
  });
});

describe('docker top', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  it('passes ps options through and lists only the container’s processes', async () => {
    const run = await d('run', '-d', '--name', 'topped', 'busybox', 'sleep', '600');
    assert.equal(run.code, 0, run.stderr);
    const plain = await d('top', 'topped');
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD/);
    assert.match(plain.stdout, /sleep 600/);
    const custom = await d('top', 'topped', '-eo', 'pid,comm');
    assert.equal(custom.code, 0, custom.stderr);
    const lines = custom.stdout.trim().split('\n');
    assert.match(lines[0]!, /^PID\s+COMMAND$/);
    assert.equal(lines.length, 2, custom.stdout);
    assert.match(lines[1]!, /^\d+\s+sleep$/);
    // Options that select no process by themselves still show the container's, as dockerd passes -q <pids>.
    const selectNone = await d('top', 'topped', '-o', 'pid,comm');
    assert.equal(selectNone.code, 0, selectNone.stderr);
    assert.match(selectNone.stdout.trim().split('\n')[1] ?? '', /^\d+\s+sleep$/);
    const bsd = await d('top', 'topped', 'aux');
    assert.equal(bsd.code, 0, bsd.stderr);
    assert.match(bsd.stdout.split('\n')[0]!, /^USER\s+PID\s+%CPU\s+%MEM/);
    assert.match(bsd.stdout, /sleep 600/);
    const renamed = await d('top', 'topped', '-o', 'comm=PID');
    assert.notEqual(renamed.code, 0);
    assert.match(renamed.stderr, /specifying "comm=PID" is not allowed/);
    const noPid = await d('top', 'topped', '-o', 'comm');
    assert.notEqual(noPid.code, 0);
    assert.match(noPid.stderr, /Couldn't find PID field in ps output/);
    await d('rm', '-f', 'topped');
    const stopped = await d('create', '--name', 'untopped', 'busybox', 'true');
    assert.equal(stopped.code, 0);
    const r = await d('top', 'untopped');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    await d('rm', 'untopped');
  });
});

describe('docker system df', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  it('lists images, containers and volumes with their sizes, plain and verbose', async () => {
    assert.equal((await d('volume', 'create', 'dfvol')).code, 0);
    assert.equal((await d('create', '--name', 'dfc', '-v', 'dfvol:/data', 'busybox', 'true')).code, 0);
    const r = await d('system', 'df', '--format', '{{json .}}');
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Type: string; TotalCount: string; Active: string });
    assert.deepEqual(
      rows.map((x) => x.Type),
      ['Images', 'Containers', 'Local Volumes', 'Build Cache'],
    );
    assert.equal(rows[0]!.TotalCount, '1');
    assert.equal(rows[1]!.TotalCount, '1');
    assert.equal(rows[2]!.TotalCount, '1');
    assert.equal(rows[2]!.Active, '1');
    const v = await d('system', 'df', '-v');
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /busybox\s+latest/);
    assert.match(v.stdout, /dfvol\s+1\s+\d/);
    await d('rm', 'dfc');
    await d('volume', 'rm', 'dfvol');
  });
});

describe('docker events for networks, volumes and images', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);

  interface Ev {
    Type: string;
    Action: string;
    Actor: { ID: string; Attributes: Record<string, string> };
    time: number;
    timeNano: number;
  }

  /** Events between two points in time, as `docker events --since --until` prints them. */
  async function eventsBetween(since: number, filters: string[] = []): Promise<Ev[]> {
    const until = (Date.now() / 1000 + 0.001).toFixed(3);
    const args = ['events', '--since', since.toFixed(3), '--until', until, '--format', '{{json .}}'];
    for (const f of filters) args.push('--filter', f);
    const r = await d(...args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev);
  }

  it('reports network create, connect, disconnect and destroy with dockerd’s attributes', async () => {
    const since = Date.now() / 1000 - 0.001;
    assert.equal((await d('network', 'create', 'evnet')).code, 0);
    const netId = (await d('network', 'inspect', '-f', '{{.Id}}', 'evnet')).stdout.trim();
    const run = await d('run', '-d', '--name', 'evc', '--network', 'evnet', 'busybox', 'sleep', '600');
    assert.equal(run.code, 0, run.stderr);
    const cid = run.stdout.trim();
    assert.equal((await d('network', 'connect', 'bridge', 'evc')).code, 0);
    assert.equal((await d('network', 'disconnect', 'bridge', 'evc')).code, 0);
    assert.equal((await d('rm', '-f', 'evc')).code, 0);
    assert.equal((await d('network', 'rm', 'evnet')).code, 0);

    const events = await eventsBetween(since, ['type=network']);
    const mine = events.filter((e) => e.Actor.Attributes.name === 'evnet');
    assert.deepEqual(
      mine.map((e) => e.Action),
      ['create', 'connect', 'disconnect', 'destroy'],
    );
    assert.deepEqual(mine[0]!.Actor, { ID: netId, Attributes: { name: 'evnet', type: 'bridge' } });
    assert.deepEqual(mine[1]!.Actor, {
      ID: netId,
      Attributes: { container: cid, name: 'evnet', type: 'bridge' },
    });
    const bridge = events.filter((e) => e.Actor.Attributes.name === 'bridge').map((e) => e.Action);
    assert.deepEqual(bridge, ['connect', 'disconnect']);
    assert.ok(events.every((e) => e.Type === 'network'));

    // network= matches ID or name by prefix; event= narrows to actions.
    const byName = await eventsBetween(since, ['network=evnet', 'event=connect']);
    assert.deepEqual(
      byName.map((e) => [e.Type, e.Action]),
      [['network', 'connect']],
    );
    const byId = await eventsBetween(since, ['network=' + netId.slice(0, 12), 'type=network']);
    assert.equal(byId.length, 4);
    // container= matches the actor, so a network's events are not a container's.
    const byContainer = await eventsBetween(since, ['container=evc']);
    assert.ok(byContainer.length > 0 && byContainer.every((e) => e.Type === 'container'));
  });

  it('reports volume create, mount, unmount and destroy, filtered by volume and label', async () => {
    const since = Date.now() / 1000 - 0.001;
    assert.equal((await d('volume', 'create', 'evvol')).code, 0);
    const run = await d('run', '--name', 'evv', '-v', 'evvol:/data:ro', 'busybox', 'true');
    assert.equal(run.code, 0, run.stderr);
    const cid = (await d('inspect', '-f', '{{.Id}}', 'evv')).stdout.trim();
    assert.equal((await d('rm', 'evv')).code, 0);
    assert.equal((await d('volume', 'rm', 'evvol')).code, 0);

    const events = await eventsBetween(since, ['volume=evvol']);
    assert.deepEqual(
      events.map((e) => `${e.Type} ${e.Action}`),
      ['volume create', 'volume create', 'volume mount', 'volume unmount', 'volume destroy'],
    );
    assert.deepEqual(events[0]!.Actor, { ID: 'evvol', Attributes: { driver: 'local' } });
    assert.deepEqual(events[2]!.Actor.Attributes, {
      container: cid,
      destination: '/data',
      driver: 'local',
      propagation: '',
      'read/write': 'false',
    });
    assert.deepEqual(events[3]!.Actor.Attributes, { container: cid, driver: 'local' });
    assert.deepEqual(events[4]!.Actor.Attributes, { driver: 'local' });

    const mounts = await eventsBetween(since, ['type=volume', 'event=mount']);
    assert.equal(mounts.length, 1);
    const labelled = await eventsBetween(since, ['type=volume', 'label=read/write=false']);
    assert.deepEqual(
      labelled.map((e) => e.Action),
      ['mount'],
    );
  });

  it('reports image tag, untag and save, and the image filter matches with or without the tag', async () => {
    const since = Date.now() / 1000 - 0.001;
    assert.equal((await d('tag', 'busybox', 'evimg:one')).code, 0);
    const tar = path.join(engine().dataRoot, '..', 'evimg.tar');
    const save = await d('save', '-o', tar, 'evimg:one');
    assert.equal(save.code, 0, save.stderr);
    await fs.rm(tar, { force: true });
    assert.equal((await d('rmi', 'evimg:one')).code, 0);
    const events = await eventsBetween(since, ['type=image']);
    assert.deepEqual(
      events.map((e) => e.Action),
      ['tag', 'save', 'untag'],
    );
    assert.equal(events[0]!.Actor.Attributes.name, 'evimg:one');
    assert.match(events[0]!.Actor.ID, /^sha256:[0-9a-f]{64}$/);
    const tagOnly = await eventsBetween(since, ['image=evimg', 'event=tag']);
    assert.equal(tagOnly.length, 1);
  });

  it('streams live events that match the filters only', async () => {
    const { socket } = engine();
    const filters = encodeURIComponent(JSON.stringify({ type: ['volume'], event: ['destroy'] }));
    const pending = streamLines(socket, `/events?filters=${filters}`, { lines: 1, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await d('volume', 'create', 'live1')).code, 0);
    assert.equal((await d('volume', 'rm', 'live1')).code, 0);
    const { lines } = await pending;
    assert.equal(lines.length, 1);
    const e = JSON.parse(lines[0]!.text) as Ev & { status?: string };
    assert.equal(e.Action, 'destroy');
    assert.equal(e.Actor.ID, 'live1');
    assert.equal(e.status, undefined, 'legacy fields only for containers and images');
  });
});

describe('the engine log', () => {
  const engine = useEngineWithBusybox();

  it('has one debug line per request with method, path, status and duration, and no secrets', async () => {
    const secret = 'hunter2-very-secret';
    const auth = Buffer.from(JSON.stringify({ username: 'u', password: secret })).toString('base64url');
    // A login and a pull against a closed loopback port: they fail, but their credentials reach the engine.
    await new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ username: 'u', password: secret, serveraddress: '127.0.0.1:9' });
      const req = http.request(
        {
          socketPath: engine().socket,
          path: '/v1.47/auth',
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.end(body);
    });
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: engine().socket,
          path: `/v1.47/images/create?fromImage=127.0.0.1%3A9%2Fnothing&tag=latest`,
          method: 'POST',
          headers: { 'X-Registry-Auth': auth },
        },
        (res) => res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.end();
    });
    await docker(engine(), ['ps', '-a']);
    const text = await eventually(async () => {
      const t = await fs.readFile(engine().logFile, 'utf8');
      return (
        /msg="request" method="GET" path="\/v1\.\d+\/containers\/json\?all=1" status=200 duration="[\d.]+ms"/.test(
          t,
        ) && t
      );
    });
    assert.match(text, /msg="request" method="POST" path="\/v1\.47\/auth" status=\d{3} duration=/);
    assert.match(
      text,
      /msg="request" method="POST" path="\/v1\.47\/images\/create\?fromImage=127\.0\.0\.1:9\/nothing&tag=latest" status=\d{3}/,
    );
    assert.ok(!text.includes(secret), 'the password never reaches the log');
    assert.ok(!text.includes(auth), 'nor the X-Registry-Auth header');
  });
});
