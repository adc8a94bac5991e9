// `run --init`, `--pid`, `--ipc`, `--uts`, `--cgroupns` and `--security-opt`
// through the real docker CLI against a real engine: what the container sees
// (its PID 1, the namespaces it shares, its seccomp filter and masked paths),
// dockerd's errors for what cannot be, and refusals of options Berth does not
// carry out, with nothing created.
import assert from 'node:assert/strict';
import { promises as fs, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { berth } from '../helpers/berth.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('run: --init, shared namespaces, security options', () => {
  const engine = useEngineWithBusybox();

  const run = async (args: string[]) => {
    const r = await docker(engine(), ['run', '--rm', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const refused = async (args: string[], message: RegExp) => {
    const before = (await docker(engine(), ['ps', '-aq'])).stdout;
    const r = await docker(engine(), ['run', '--rm', ...args, 'busybox', 'true']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, message);
    // Refused before anything was made.
    assert.equal((await docker(engine(), ['ps', '-aq'])).stdout, before);
  };
  const detached = async (args: string[]) => {
    const r = await docker(engine(), ['run', '-d', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  it('--init runs docker-init as PID 1 with the command as its child, and passes docker stop on', async () => {
    const ps = await run(['--init', 'busybox', 'ps', '-o', 'pid,args']);
    assert.match(ps, /^\s*1 \/sbin\/docker-init -- ps -o pid,args$/m);
    assert.match(ps, /^\s*\d+ ps -o pid,args$/m);
    // Without an init, sleep as PID 1 ignores SIGTERM and is killed after the timeout (137).
    const id = await detached(['--init', 'busybox', 'sleep', '300']);
    const stop = await docker(engine(), ['stop', '-t', '30', id]);
    assert.equal(stop.code, 0, stop.stderr);
    const inspect = await docker(engine(), [
      'inspect',
      '-f',
      '{{.State.ExitCode}} {{.Path}} {{.HostConfig.Init}}',
      id,
    ]);
    assert.equal(inspect.stdout.trim(), '143 sleep true');
    await docker(engine(), ['rm', id]);
  });

  it("--pid host sees the machine's processes; --pid container: sees the other container's", async () => {
    const enginePid = engine().pid;
    const probe = `test -d /proc/${enginePid} && echo engine-visible || echo engine-hidden`;
    assert.equal(await run(['--pid', 'host', 'busybox', 'sh', '-c', probe]), 'engine-visible\n');
    assert.equal(await run(['busybox', 'sh', '-c', probe]), 'engine-hidden\n');

    const target = await detached(['--name', 'pid-target', 'busybox', 'sleep', '300']);
    const ps = await run(['--pid', 'container:pid-target', 'busybox', 'ps', '-o', 'pid,args']);
    assert.match(ps, /^\s*1 sleep 300$/m);
    await docker(engine(), ['stop', '-t', '0', target]);
    const joined = await docker(engine(), [
      'run',
      '--rm',
      '--pid',
      'container:pid-target',
      'busybox',
      'true',
    ]);
    assert.notEqual(joined.code, 0);
    assert.match(
      joined.stderr,
      /failed to join PID namespace: cannot join PID of a non running container: [0-9a-f]{64}/,
    );
    await docker(engine(), ['rm', target]);
    await refused(['--pid', 'container:no-such-container'], /No such container: no-such-container/);
  });

  it('--ipc shareable lets another container share its IPC namespace and /dev/shm; a private one refuses', async () => {
    const donor = await detached([
      '--name',
      'ipc-donor',
      '--ipc',
      'shareable',
      '--shm-size',
      '8m',
      'busybox',
      'sh',
      '-c',
      'echo from-donor > /dev/shm/note; sleep 300',
    ]);
    const donorNs = (await docker(engine(), ['exec', donor, 'readlink', '/proc/self/ns/ipc'])).stdout;
    const joined = await run([
      '--ipc',
      'container:ipc-donor',
      'busybox',
      'sh',
      '-c',
      'readlink /proc/self/ns/ipc; cat /dev/shm/note; echo from-joiner > /dev/shm/reply; df -k /dev/shm | tail -1',
    ]);
    const [ns, note, df] = joined.split('\n');
    assert.equal(`${ns}\n`, donorNs);
    assert.equal(note, 'from-donor');
    assert.match(df!, /^\S+\s+8192\s/); // the donor's 8 MiB /dev/shm
    assert.equal((await docker(engine(), ['exec', donor, 'cat', '/dev/shm/reply'])).stdout, 'from-joiner\n');

    const priv = await detached(['--name', 'ipc-private', 'busybox', 'sleep', '300']);
    const r = await docker(engine(), ['run', '--rm', '--ipc', 'container:ipc-private', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
    const modes = await docker(engine(), ['inspect', '-f', '{{.HostConfig.IpcMode}}', priv, donor]);
    assert.equal(modes.stdout, 'private\nshareable\n');
    await docker(engine(), ['rm', '-f', donor, priv]);
  });

  it("--ipc host shares the machine's IPC namespace; --ipc none has no /dev/shm", async () => {
    const hostIpc = readlinkSync('/proc/self/ns/ipc');
    assert.equal(await run(['--ipc', 'host', 'busybox', 'readlink', '/proc/self/ns/ipc']), `${hostIpc}\n`);
    assert.notEqual(await run(['busybox', 'readlink', '/proc/self/ns/ipc']), `${hostIpc}\n`);
    assert.equal(
      await run(['--ipc', 'none', 'busybox', 'sh', '-c', 'test -e /dev/shm && echo shm || echo no-shm']),
      'no-shm\n',
    );
  });

  it("--uts host has the machine's hostname and refuses -h; --cgroupns host shares the cgroup namespace", async () => {
    assert.equal(await run(['--uts', 'host', 'busybox', 'hostname']), `${os.hostname()}\n`);
    await refused(['--uts', 'host', '-h', 'named'], /conflicting options: hostname and the UTS mode/);
    const hostCgroupNs = readlinkSync('/proc/self/ns/cgroup');
    assert.equal(
      await run(['--cgroupns', 'host', 'busybox', 'readlink', '/proc/self/ns/cgroup']),
      `${hostCgroupNs}\n`,
    );
  });

  it('berth run takes --pid, --ipc and --uts as docker does', async () => {
    // Each flag shows: the engine's process (host PID namespace), the machine's hostname and IPC namespace.
    const r = await berth(engine(), [
      'run',
      '--rm',
      '--pid',
      'host',
      '--uts',
      'host',
      '--ipc',
      'host',
      'busybox',
      'sh',
      '-c',
      `test -d /proc/${engine().pid} && echo engine-visible; hostname; readlink /proc/self/ns/ipc`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `engine-visible\n${os.hostname()}\n${readlinkSync('/proc/self/ns/ipc')}\n`);
  });

  it('--security-opt seccomp=unconfined drops the filter; a profile file replaces it; bad options are refused', async () => {
    assert.equal(await run(['busybox', 'grep', 'Seccomp:', '/proc/self/status']), 'Seccomp:\t2\n');
    assert.equal(
      await run(['--security-opt', 'seccomp=unconfined', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']),
      'Seccomp:\t0\n',
    );
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-seccomp-'));
    try {
      const profile = path.join(dir, 'no-mkdir.json');
      await fs.writeFile(
        profile,
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
        }),
      );
      assert.equal(
        await run([
          '--security-opt',
          `seccomp=${profile}`,
          'busybox',
          'sh',
          '-c',
          'mkdir /tmp/a 2>/dev/null && echo made || echo refused; touch /tmp/b && echo touched',
        ]),
        'refused\ntouched\n',
      );
      await fs.writeFile(profile, JSON.stringify({ syscalls: [] }));
      await refused(
        ['--security-opt', `seccomp=${profile}`],
        /Decoding seccomp profile failed: "defaultAction"/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    await refused(['--security-opt', 'foo=bar'], /invalid --security-opt 2: "foo=bar"/);
  });

  it('--security-opt systempaths=unconfined unmasks /proc; no-new-privileges holds for execs too', async () => {
    const masked = "grep -c ' /proc/timer_list ' /proc/self/mountinfo || true";
    assert.equal(await run(['busybox', 'sh', '-c', masked]), '1\n');
    assert.equal(
      await run(['--security-opt', 'systempaths=unconfined', 'busybox', 'sh', '-c', masked]),
      '0\n',
    );
    const id = await detached(['--security-opt', 'no-new-privileges', 'busybox', 'sleep', '300']);
    const exec = await docker(engine(), ['exec', id, 'grep', 'NoNewPrivs:', '/proc/self/status']);
    assert.equal(exec.stdout, 'NoNewPrivs:\t1\n');
    await docker(engine(), ['rm', '-f', id]);
  });

  it('--device-cgroup-rule, --memory-swappiness, --oom-kill-disable and --cpuset-mems reach the cgroup', async () => {
    assert.equal(
      await run([
        '--device-cgroup-rule',
        'c 10:229 rwm',
        'busybox',
        'sh',
        '-c',
        'mknod /tmp/fuse c 10 229 && (: < /tmp/fuse) 2>&1 | grep -c "Operation not permitted" || true',
      ]),
      '0\n',
    );
    const v1 = await fs.stat('/sys/fs/cgroup/memory').then(
      () => true,
      () => false,
    );
    const out = await run([
      '-m',
      '64m',
      '--memory-swappiness',
      '10',
      '--oom-kill-disable',
      '--cpuset-mems',
      '0',
      'busybox',
      'sh',
      '-c',
      v1
        ? 'cat /sys/fs/cgroup/memory/memory.swappiness; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control; cat /sys/fs/cgroup/cpuset/cpuset.mems'
        : 'cat /sys/fs/cgroup/cpuset.mems',
    ]);
    assert.equal(out, v1 ? '10\noom_kill_disable 1\n0\n' : '0\n');
  });

  it("--link puts the linked container in /etc/hosts under its alias, with dockerd's variables on the bridge", async () => {
    const child = await detached([
      '--name',
      'link-db',
      '-e',
      'SECRET=abc',
      '--expose',
      '5432',
      '--expose',
      '8000-8002/udp',
      'busybox',
      'sleep',
      '300',
    ]);
    const ip = (
      await docker(engine(), ['inspect', '-f', '{{.NetworkSettings.Networks.bridge.IPAddress}}', child])
    ).stdout.trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const out = await run([
      '--name',
      'link-web',
      '--link',
      'link-db:db',
      'busybox',
      'sh',
      '-c',
      `awk '$2 == "db"' /etc/hosts; env | grep ^DB_ | sort; ping -c1 -W2 db >/dev/null && echo reached`,
    ]);
    const portVars = (port: number, proto: string) => {
      const key = `DB_PORT_${port}_${proto.toUpperCase()}`;
      return [
        `${key}=${proto}://${ip}:${port}`,
        `${key}_ADDR=${ip}`,
        `${key}_PORT=${port}`,
        `${key}_PROTO=${proto}`,
      ];
    };
    const expected = [
      'DB_ENV_SECRET=abc',
      'DB_NAME=/link-web/db',
      `DB_PORT=tcp://${ip}:5432`,
      ...portVars(5432, 'tcp'),
      // A run of ports: dockerd's _START/_END variables, then each port's own.
      `DB_PORT_8000_UDP_START=udp://${ip}:8000`,
      `DB_PORT_8000_UDP_PORT_START=8000`,
      `DB_PORT_8000_UDP_PORT_END=8002`,
      `DB_PORT_8000_UDP_END=udp://${ip}:8002`,
      ...portVars(8000, 'udp'),
      ...portVars(8001, 'udp'),
      ...portVars(8002, 'udp'),
    ].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.equal(out, `${ip}\tdb\n${expected.join('\n')}\nreached\n`);
    const linker = await docker(engine(), ['create', '--link', 'link-db:db', 'busybox', 'true']);
    assert.equal(linker.code, 0, linker.stderr);
    const id = linker.stdout.trim();
    const shown = await docker(engine(), ['inspect', '-f', '{{json .HostConfig.Links}}', id]);
    assert.match(shown.stdout, /^\["\/link-db:\/[a-z_]+\/db"\]\n$/);
    await docker(engine(), ['stop', '-t', '0', child]);
    const start = await docker(engine(), ['start', id]);
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /Cannot link to a non running container: \/link-db AS \/[a-z_]+\/db/);
    // docker rm --link: the linker forgets the link (and starts without its child).
    const parentName = (await docker(engine(), ['inspect', '-f', '{{.Name}}', id])).stdout.trim();
    const unlink = await docker(engine(), ['rm', '--link', `${parentName}/db`]);
    assert.equal(unlink.code, 0, unlink.stderr);
    assert.equal(
      (await docker(engine(), ['inspect', '-f', '{{json .HostConfig.Links}}', id])).stdout,
      '[]\n',
    );
    assert.equal((await docker(engine(), ['start', id])).code, 0);
    const again = await docker(engine(), ['rm', '--link', `${parentName}/db`]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /No such container: \/[a-z_]+\/db/);
    await docker(engine(), ['rm', '-f', id, child]);
    await refused(['--link', 'no-such-container:x'], /could not get container for no-such-container/);
    await refused(
      ['--network', 'host', '--link', 'link-web'],
      /host type networking can't be used with links/,
    );
  });

  it("refuses --gpus and the options Berth does not carry out, with dockerd's words where it has them", async () => {
    await refused(['--gpus', 'all'], /could not select device driver "" with capabilities: \[\[gpu\]\]/);
    await refused(['--blkio-weight', '300'], /--blkio-weight is not supported by Berth/);
    await refused(['--cgroup-parent', 'mine'], /--cgroup-parent is not supported by Berth/);
    await refused(['--storage-opt', 'size=1G'], /--storage-opt is supported only for overlay over xfs/);
    await refused(['--device-cgroup-rule', 'x 1:2 r'], /invalid device cgroup/);
    await refused(['--runtime', 'no-such-runtime'], /unknown or invalid runtime name: no-such-runtime/);
    // The real reason, not the docker CLI's attempt to pull after a 404.
    await refused(
      ['--volume-driver', 'nope', '-v', 'vd:/x'],
      /error looking up volume plugin nope: plugin "nope" not found/,
    );
    assert.doesNotMatch((await docker(engine(), ['volume', 'ls', '-q'])).stdout, /^vd$/m);
    await refused(
      ['--ip6', 'fd00::5'],
      /user specified IP address is supported on user defined networks only/,
    );
    const net = await docker(engine(), ['network', 'create', 'no-v6']);
    assert.equal(net.code, 0, net.stderr);
    await refused(['--network', 'no-v6', '--ip6', 'fd00::5'], /IPv6 networks are not supported by Berth yet/);
    await docker(engine(), ['network', 'rm', 'no-v6']);
  });
});
