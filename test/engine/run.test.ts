// `docker run` as a user types it, against a real engine and real containers.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { dockerPty } from '../helpers/pty.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('docker run', () => {
  const engine = useEngineWithBusybox();

  it('prints the command output and removes the container with --rm', async () => {
    const r = await docker(engine(), ['run', '--rm', 'busybox', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    const ps = await docker(engine(), ['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '');
  });

  it('propagates the exit code', async () => {
    const r = await docker(engine(), [
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  it('exits 127 for a missing binary and 126 for a non-executable one', async () => {
    const missing = await docker(engine(), ['run', '--rm', 'busybox', 'no-such-binary']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /no-such-binary/);
    const notExec = await docker(engine(), ['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
  });

  it('runs the command as PID 1 with the container hostname', async () => {
    const pid = await docker(engine(), ['run', '--rm', 'busybox', 'sh', '-c', 'echo $$']);
    assert.equal(pid.stdout.trim(), '1');
    const named = await docker(engine(), ['run', '--rm', '--hostname', 'myhost', 'busybox', 'hostname']);
    assert.equal(named.stdout.trim(), 'myhost');
    const create = await docker(engine(), ['create', 'busybox', 'hostname']);
    const id = create.stdout.trim();
    const start = await docker(engine(), ['start', '-a', id]);
    assert.equal(start.stdout.trim(), id.slice(0, 12));
    await docker(engine(), ['rm', id]);
  });

  it('feeds stdin with -i and half-closes it', async () => {
    const r = await docker(engine(), ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], {
      input: 'line one\nline two\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'line one\nline two\ndone\n');
  });

  it('gives an interactive shell with -it', async () => {
    // A script rather than busybox's line editor: its cursor-position query makes typed keys racy under load.
    const script = 'tty; stty size; echo $TERM; echo ready; read a b; echo "product=$((a*b))"; exit 5';
    const term = dockerPty(engine(), ['run', '--rm', '-it', 'busybox', 'sh', '-c', script], {
      cols: 100,
      rows: 30,
    });
    try {
      await term.waitFor(/\/dev\/pts\/0[\s\S]*30 100[\s\S]*xterm[\s\S]*ready/, 10_000);
      term.write('6 7\r');
      await term.waitFor(/product=42/, 10_000);
      assert.equal(await term.exited, 5);
    } finally {
      term.kill();
    }
  });

  it('applies the memory limit inside the container cgroup', async () => {
    const r = await docker(engine(), [
      'run',
      '--rm',
      '--memory',
      '64m',
      'busybox',
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '67108864');
  });

  it('applies --memory-swap and --cpu-shares', async () => {
    const swap = await docker(engine(), [
      'run',
      '--rm',
      '--memory',
      '64m',
      '--memory-swap',
      '96m',
      'busybox',
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo $(( $(cat /sys/fs/cgroup/memory.swap.max) + 67108864 ))',
    ]);
    assert.equal(swap.code, 0, swap.stderr);
    assert.equal(swap.stdout.trim(), String(96 * 1024 * 1024));
    const shares = await docker(engine(), [
      'run',
      '--rm',
      '--cpu-shares',
      '512',
      'busybox',
      'sh',
      '-c',
      'cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight',
    ]);
    assert.equal(shares.code, 0, shares.stderr);
    assert.ok(['512', '20'].includes(shares.stdout.trim()), shares.stdout);
  });

  it('applies --pids-limit and --cpus', async () => {
    const pids = await docker(engine(), [
      'run',
      '--rm',
      '--pids-limit',
      '42',
      'busybox',
      'sh',
      '-c',
      'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max',
    ]);
    assert.equal(pids.stdout.trim(), '42', pids.stderr);
    const cpus = await docker(engine(), [
      'run',
      '--rm',
      '--cpus',
      '0.5',
      'busybox',
      'sh',
      '-c',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max',
    ]);
    assert.equal(cpus.stdout.trim(), '50000', cpus.stderr);
  });

  it('merges env: -e beats --env-file beats the image ENV', async () => {
    const commitSrc = await docker(engine(), ['create', 'busybox', 'true']);
    const committed = await docker(engine(), [
      'commit',
      '--change',
      'ENV FOO=image BAR=image BAZ=image',
      commitSrc.stdout.trim(),
      'envimage:1',
    ]);
    assert.equal(committed.code, 0, committed.stderr);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-envfile-'));
    try {
      const envFile = path.join(dir, 'env');
      await fs.writeFile(envFile, '# a comment\nFOO=file\nBAR=file\n');
      const r = await docker(engine(), [
        'run',
        '--rm',
        '--env-file',
        envFile,
        '-e',
        'FOO=cli',
        'envimage:1',
        'sh',
        '-c',
        'echo $FOO $BAR $BAZ',
      ]);
      assert.equal(r.stdout.trim(), 'cli file image', r.stderr);
      const unset = await docker(
        engine(),
        ['run', '--rm', '-e', 'BAZ', 'envimage:1', 'sh', '-c', 'echo "[${BAZ-unset}]"'],
        {
          env: {},
        },
      );
      assert.equal(unset.stdout.trim(), '[unset]');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
      await docker(engine(), ['rm', commitSrc.stdout.trim()]);
    }
  });

  it('honours --user, -w, --entrypoint and --read-only', async () => {
    const user = await docker(engine(), ['run', '--rm', '--user', '65534:65534', 'busybox', 'id']);
    assert.match(user.stdout, /uid=65534.*gid=65534/);
    const wd = await docker(engine(), ['run', '--rm', '-w', '/tmp', 'busybox', 'pwd']);
    assert.equal(wd.stdout.trim(), '/tmp');
    const ep = await docker(engine(), [
      'run',
      '--rm',
      '--entrypoint',
      'echo',
      'busybox',
      'from',
      'entrypoint',
    ]);
    assert.equal(ep.stdout.trim(), 'from entrypoint');
    const ro = await docker(engine(), ['run', '--rm', '--read-only', 'busybox', 'touch', '/newfile']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
  });

  it('applies the default security profile, lifted by --privileged', async () => {
    const mount = ['sh', '-c', 'mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && echo mounted'];
    const confined = await docker(engine(), ['run', '--rm', 'busybox', ...mount]);
    assert.notEqual(confined.code, 0);
    assert.doesNotMatch(confined.stdout, /mounted/);
    const privileged = await docker(engine(), ['run', '--rm', '--privileged', 'busybox', ...mount]);
    assert.equal(privileged.stdout.trim(), 'mounted', privileged.stderr);
    const caps = await docker(engine(), [
      'run',
      '--rm',
      '--cap-drop',
      'ALL',
      'busybox',
      'grep',
      'CapEff',
      '/proc/self/status',
    ]);
    assert.match(caps.stdout, /CapEff:\s+0000000000000000/);
    const masked = await docker(engine(), ['run', '--rm', 'busybox', 'cat', '/proc/kcore']);
    assert.equal(masked.stdout, '');
  });

  it('isolates the network: none and the default get their own namespace with loopback, host shares it', async () => {
    const hostNs = await fs.readlink('/proc/self/ns/net');
    const nsOf = async (...args: string[]) => {
      const r = await docker(engine(), [
        'run',
        '--rm',
        ...args,
        'busybox',
        'sh',
        '-c',
        'readlink /proc/self/ns/net; ip -o link',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const [ns, ...links] = r.stdout.trim().split('\n');
      return { ns, links: links.map((l) => l.split(':')[1].trim()) };
    };
    const none = await nsOf('--network', 'none');
    assert.notEqual(none.ns, hostNs);
    assert.deepEqual(none.links, ['lo']);
    const loUp = await docker(engine(), [
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'ping',
      '-c',
      '1',
      '-W',
      '2',
      '127.0.0.1',
    ]);
    assert.equal(loUp.code, 0, 'loopback is up');
    assert.notEqual((await nsOf()).ns, hostNs);
    assert.equal((await nsOf('--network', 'host')).ns, hostNs);
    const peer = (
      await docker(engine(), ['run', '-d', '--network', 'none', 'busybox', 'sleep', '300'])
    ).stdout.trim();
    const peerNs = (await docker(engine(), ['exec', peer, 'readlink', '/proc/self/ns/net'])).stdout.trim();
    assert.equal((await nsOf('--network', `container:${peer}`)).ns, peerNs);
    // Namespaces made ahead of time for --network none are never shared: each container its own.
    await new Promise((r) => setTimeout(r, 500)); // the next spare is made while idle
    const second = (
      await docker(engine(), ['run', '-d', '--network', 'none', 'busybox', 'sleep', '300'])
    ).stdout.trim();
    const secondNs = (
      await docker(engine(), ['exec', second, 'readlink', '/proc/self/ns/net'])
    ).stdout.trim();
    assert.notEqual(secondNs, peerNs);
    await docker(engine(), ['rm', '-f', peer]);
    await new Promise((r) => setTimeout(r, 500));
    const third = await nsOf('--network', 'none');
    assert.notEqual(third.ns, secondNs);
    assert.deepEqual(third.links, ['lo']);
    await docker(engine(), ['rm', '-f', second]);
  });

  it('refuses bad input with the docker CLI exit code 125 and a clear message', async () => {
    const name = await docker(engine(), ['run', '--name', 'a b', 'busybox', 'true']);
    assert.equal(name.code, 125);
    assert.match(name.stderr, /Invalid container name \(a b\)/);
    const image = await docker(engine(), ['run', '--rm', 'no-such-image:1.0', 'true']);
    assert.equal(image.code, 125);
    assert.match(image.stderr, /Unable to find image 'no-such-image:1\.0' locally/);
    // Not here: a pull, which fails fast and names the registry (the suite's netns has no way out).
    assert.match(image.stderr, /cannot reach the registry registry-1\.docker\.io/);
    const mem = await docker(engine(), ['run', '--rm', '--memory', '1m', 'busybox', 'true']);
    assert.equal(mem.code, 125);
    assert.match(mem.stderr, /Minimum memory limit allowed is 6MB/);
    const reservation = await docker(engine(), [
      'run',
      '--rm',
      '--memory',
      '50m',
      '--memory-reservation',
      '100m',
      'busybox',
      'true',
    ]);
    assert.equal(reservation.code, 125);
    assert.match(reservation.stderr, /Minimum memory limit can not be less than memory reservation limit/);
    const cap = await docker(engine(), ['run', '--rm', '--cap-add', 'NOT_A_CAP', 'busybox', 'true']);
    assert.equal(cap.code, 125);
    assert.match(cap.stderr, /NOT_A_CAP/);
    const ps = await docker(engine(), ['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '', 'nothing half-created');
  });

  it('refuses a second container with the same name', async () => {
    const first = await docker(engine(), ['create', '--name', 'dup', 'busybox', 'true']);
    assert.equal(first.code, 0, first.stderr);
    const second = await docker(engine(), ['create', '--name', 'dup', 'busybox', 'true']);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /The container name "\/dup" is already in use/);
    await docker(engine(), ['rm', 'dup']);
  });
});
