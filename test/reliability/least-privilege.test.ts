// Least privilege: who may reach the engine (a 0660 socket owned by its group;
// TCP only with TLS client certificates), what a default container may not do
// (mount, reboot, user namespaces, new privileges, masked /proc), and that
// registry credentials never reach the engine's log.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { CLIENT_EXT, SERVER_EXT, testCerts } from '../helpers/test-certs.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { repoRoot } from '../fixtures/image-cache.js';
import { run } from '../../guest-agent/util/subprocess.js';

/** GET /_ping over the socket as an unprivileged user: the HTTP status, or the error code. */
async function pingAs(socket: string, user: string, extraGroups: string[] = []): Promise<string> {
  const script = `require('http').get({ socketPath: ${JSON.stringify(socket)}, path: '/_ping' }, (r) => { console.log(r.statusCode); process.exit(0); }).on('error', (e) => console.log(e.code))`;
  const groups = extraGroups.length ? [`--groups=${extraGroups.join(',')}`] : ['--clear-groups'];
  const r = await run('setpriv', [
    `--reuid=${user}`,
    `--regid=${user === 'nobody' ? 'nogroup' : user}`,
    ...groups,
    process.execPath,
    '-e',
    script,
  ]);
  return r.stdout.trim();
}

/** The TCP ports a process listens on, from /proc/net/tcp{,6} and its socket fds. */
async function tcpListeners(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
    const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  const ports: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
    }
  }
  return ports;
}

describe('who may reach the engine', () => {
  let tmp = '';
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-privilege-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('makes its socket 0660, owned by the group asked for; other users are refused', async (t) => {
    const t0 = performance.now();
    const step = (what: string) => t.diagnostic(`${what} at ${Math.round(performance.now() - t0)} ms`);
    const engine = await startEngine({ extraArgs: ['--group', 'daemon'] });
    step('started');
    try {
      const daemonGid = Number((await run('getent', ['group', 'daemon'])).stdout.split(':')[2]);
      const st = await fs.stat(engine.socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.uid, 0);
      assert.equal(st.gid, daemonGid);
      // Only the socket's own permissions stand between the user and the engine.
      await fs.chmod(path.dirname(engine.socket), 0o711);
      assert.equal(await pingAs(engine.socket, 'nobody'), 'EACCES', 'a user outside the group is refused');
      step('refused');
      assert.equal(await pingAs(engine.socket, 'nobody', ['daemon']), '200', 'a member of the group gets in');
      assert.deepEqual(await tcpListeners(engine.pid), [], 'no TCP listener unless asked');
      step('checked');
    } finally {
      await engine.cleanup();
      step('cleaned up');
    }
  });

  it('refuses to start with a group that does not exist, or TCP without TLS verification', async () => {
    const bin = path.join(repoRoot, 'bin', 'berth-engine');
    const common = ['--data-root', path.join(tmp, 'root'), '--exec-root', path.join(tmp, 'exec')];
    const noGroup = await run(
      process.execPath,
      [bin, '-H', `unix://${tmp}/g.sock`, '--group', 'no-such-group-x', ...common],
      {
        allowFailure: true,
        timeoutMs: 30_000,
      },
    );
    assert.notEqual(noGroup.exitCode, 0);
    assert.match(noGroup.stderr, /group "no-such-group-x" does not exist/);
    const plain = await run(process.execPath, [bin, '-H', 'tcp://127.0.0.1:2375', ...common], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    assert.notEqual(plain.exitCode, 0);
    assert.match(
      plain.stderr,
      /refusing to listen on tcp:\/\/127\.0\.0\.1:2375 without TLS client verification/,
    );
  });

  it('over TCP, answers only clients with a certificate from its CA', async () => {
    const { ca, signed } = testCerts(tmp);
    await ca('ca');
    await ca('rogue-ca');
    await signed('server', 'ca', SERVER_EXT);
    await signed('client', 'ca', CLIENT_EXT);
    await signed('rogue', 'rogue-ca', CLIENT_EXT);
    const f = (n: string) => path.join(tmp, n);
    const port = await freePort();
    const engine: TestEngine = await startEngine({
      extraArgs: [
        '-H',
        `tcp://127.0.0.1:${port}`,
        '--tlsverify',
        '--tlscacert',
        f('ca.pem'),
        '--tlscert',
        f('server.pem'),
        '--tlskey',
        f('server-key.pem'),
      ],
    });
    try {
      assert.deepEqual(await tcpListeners(engine.pid), [port]);
      const tcp = ['-H', `tcp://127.0.0.1:${port}`];
      const version = ['version', '--format', '{{.Server.APIVersion}}'];
      const good = await docker(engine, [
        ...tcp,
        '--tlsverify',
        '--tlscacert',
        f('ca.pem'),
        '--tlscert',
        f('client.pem'),
        '--tlskey',
        f('client-key.pem'),
        ...version,
      ]);
      assert.equal(good.stdout.trim(), '1.47', good.stderr);
      const noCert = await docker(engine, [...tcp, '--tlsverify', '--tlscacert', f('ca.pem'), ...version]);
      assert.notEqual(noCert.code, 0, 'no client certificate: refused');
      const rogue = await docker(engine, [
        ...tcp,
        '--tlsverify',
        '--tlscacert',
        f('ca.pem'),
        '--tlscert',
        f('rogue.pem'),
        '--tlskey',
        f('rogue-key.pem'),
        ...version,
      ]);
      assert.notEqual(rogue.code, 0, 'a certificate from another CA: refused');
      const plain = await docker(engine, [...tcp, ...version]);
      assert.notEqual(plain.code, 0, 'plain HTTP: refused');
      assert.doesNotMatch(plain.stdout, /1\.47/);
    } finally {
      await engine.cleanup();
    }
  });
});

describe('what a default container may not do', () => {
  const engine = useEngineWithBusybox();
  const sh = (args: string[], script: string) =>
    docker(engine(), ['run', '--rm', ...args, 'busybox', 'sh', '-c', script]);

  it('refuses reboot, user namespaces and mount; --privileged allows them', async () => {
    const confined = await sh(
      [],
      'reboot -f; echo reboot=$?; unshare -U true; echo unshare=$?; mkdir -p /mnt/t; mount -t tmpfs t /mnt/t; echo mount=$?',
    );
    assert.match(confined.stdout, /reboot=[1-9]/);
    assert.match(confined.stdout, /unshare=[1-9]/);
    assert.match(confined.stdout, /mount=[1-9]/);
    const privileged = await sh(
      ['--privileged'],
      'unshare -U true; echo unshare=$?; mkdir -p /mnt/t; mount -t tmpfs t /mnt/t; echo mount=$?',
    );
    assert.match(privileged.stdout, /unshare=0/);
    assert.match(privileged.stdout, /mount=0/);
    // reboot(2) in a container's own PID namespace ends that namespace's init, nothing else.
    const reboot = await sh(
      ['--privileged'],
      '[ "$(cat /proc/1/comm)" = sh ] || exit 99; reboot -f; sleep 5; echo survived',
    );
    assert.notEqual(reboot.code, 99, 'the container has its own PID namespace');
    assert.doesNotMatch(reboot.stdout, /survived/, 'a privileged reboot ends the container');
    assert.ok(process.kill(engine().pid, 0), 'and only the container');
  });

  it('sets no-new-privileges when asked, and masks /proc and /sys as Docker does', async () => {
    const nnp = await sh(['--security-opt', 'no-new-privileges'], 'grep NoNewPrivs /proc/self/status');
    assert.match(nnp.stdout, /NoNewPrivs:\s+1/);
    const masked = await sh(
      [],
      'for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do printf "%s=%s\\n" $p "$(wc -c < $p 2>/dev/null || echo unreadable)"; done; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname; echo sysctl=$?; echo x > /proc/sysrq-trigger; echo sysrq=$?',
    );
    for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug'])
      assert.match(masked.stdout, new RegExp(`${p}=(0|unreadable)\\n`), `${p} is masked`);
    assert.match(masked.stdout, /^0$/m, '/sys/firmware is empty');
    assert.match(masked.stdout, /sysctl=[1-9]/, '/proc/sys is read-only');
    assert.match(masked.stdout, /sysrq=[1-9]/, '/proc/sysrq-trigger is read-only');
  });
});

describe('registry credentials', () => {
  const engine = useEngineWithBusybox();

  it('never reach the engine log, even at debug level', async () => {
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    const registry = await startRegistry({ htpasswd: { username: 'alice', password } });
    try {
      const login = await docker(engine(), ['login', '-u', 'alice', '--password-stdin', registry.host], {
        input: password,
      });
      assert.equal(login.code, 0, login.stderr);
      const ref = `${registry.host}/private:1`;
      assert.equal((await docker(engine(), ['tag', 'busybox', ref])).code, 0);
      const push = await docker(engine(), ['push', ref]);
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await docker(engine(), ['rmi', ref])).code, 0);
      const pull = await docker(engine(), ['pull', ref]);
      assert.equal(pull.code, 0, pull.stderr);
      const log = await fs.readFile(engine().logFile, 'utf8');
      assert.match(log, /private/, 'the log did record the pull');
      const b64 = (s: string) => [Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64url')];
      for (const secret of [password, ...b64(password), ...b64(`alice:${password}`)])
        assert.ok(
          !log.includes(secret.replace(/=+$/, '')),
          `the log holds the password (as ${secret.slice(0, 6)}…)`,
        );
      // Nor inside an encoded header (X-Registry-Auth is base64url JSON).
      for (const blob of log.match(/[A-Za-z0-9+/_-]{24,}={0,2}/g) ?? [])
        assert.doesNotMatch(
          Buffer.from(blob, 'base64url').toString('latin1'),
          new RegExp(password),
          'an encoded password in the log',
        );
    } finally {
      await registry.stop();
    }
  });
});
