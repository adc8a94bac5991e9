// berth against engines that are not a local socket, as the docker CLI reaches
// them: tcp:// with TLS (flags, DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, a
// context's TLS files) and ssh:// (the system ssh client running
// `docker system dial-stdio` on the other side). The engine serves TLS on
// 127.0.0.1; the ssh server is one this test starts on loopback (ssh2), which
// runs the real docker CLI's dial-stdio against the engine's socket. The same
// commands run through the docker CLI must give the same output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { run } from '../../guest-agent/util/subprocess.js';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { BERTH_BIN, berth } from '../helpers/berth.js';
import { CLIENT_EXT, SERVER_EXT, testCerts } from '../helpers/test-certs.js';
import { docker, dockerEnv } from '../helpers/docker.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { freePort } from '../helpers/registry.js';

// A field both CLIs have (docker's Go struct says APIVersion where the JSON says ApiVersion).
const VERSION = ['version', '--format', '{{.Server.Os}}'];

describe('berth over tcp:// with TLS and over ssh://', () => {
  let tmp: string;
  let engine: TestEngine;
  let tcpHost: string;
  const f = (n: string) => path.join(tmp, n);

  async function makeCerts(): Promise<void> {
    const { ca, signed } = testCerts(tmp);
    await ca('ca');
    await signed('server', 'ca', SERVER_EXT);
    await signed('client', 'ca', CLIENT_EXT);
    // DOCKER_CERT_PATH's layout: ca.pem, cert.pem, key.pem.
    await fs.mkdir(f('certs'));
    await fs.copyFile(f('ca.pem'), f('certs/ca.pem'));
    await fs.copyFile(f('client.pem'), f('certs/cert.pem'));
    await fs.copyFile(f('client-key.pem'), f('certs/key.pem'));
  }

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-remote-'));
    recordForSweep(tmp);
    await makeCerts();
    const port = await freePort();
    tcpHost = `tcp://127.0.0.1:${port}`;
    engine = await startEngine({
      extraArgs: [
        '-H',
        tcpHost,
        '--tlsverify',
        '--tlscacert',
        f('ca.pem'),
        '--tlscert',
        f('server.pem'),
        '--tlskey',
        f('server-key.pem'),
      ],
    });
    const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
    assert.equal(load.code, 0, load.stderr);
  });
  after(async () => {
    await engine?.cleanup();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  /** berth and docker with the same environment and arguments: the same output. */
  async function both(env: Record<string, string | undefined>, args: string[], input?: string) {
    const [d, b] = await Promise.all([
      run('docker', args, {
        env: dockerEnv(engine, env as Record<string, string>),
        allowFailure: true,
        input: input ?? '',
      }),
      berth(engine, args, { env, input }),
    ]);
    assert.equal(d.exitCode, 0, `docker: ${d.stderr}`);
    assert.equal(b.code, 0, `berth: ${b.stderr}`);
    assert.equal(b.stdout, d.stdout);
    return b.stdout;
  }

  describe('tcp:// with TLS', () => {
    it('--tlsverify with --tlscacert/--tlscert/--tlskey', async () => {
      const flags = [
        '-H',
        tcpHost,
        '--tlsverify',
        '--tlscacert',
        f('ca.pem'),
        '--tlscert',
        f('client.pem'),
        '--tlskey',
        f('client-key.pem'),
      ];
      assert.equal(await both({}, [...flags, ...VERSION]), 'linux\n');
    });

    it('DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: run, -i through the hijacked stream, ps', async () => {
      const env = { DOCKER_HOST: tcpHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: f('certs') };
      // docker half-closes a hijacked TLS stream (close_notify) when its input ends, and still reads.
      assert.equal(await both(env, ['run', '--rm', 'busybox', 'echo', 'over tls']), 'over tls\n');
      assert.equal(
        await both(env, ['run', '--rm', '-i', 'busybox', 'tr', 'a-z', 'A-Z'], 'piped in\n'),
        'PIPED IN\n',
      );
      await both(env, ['ps', '-a', '--format', '{{.Names}}']);
    });

    it('a context with TLS files, as `docker context create --docker host=…,ca=…,cert=…,key=…` writes it', async () => {
      const config = f('config');
      const created = await run(
        'docker',
        [
          'context',
          'create',
          'tls-remote',
          '--docker',
          `host=${tcpHost},ca=${f('ca.pem')},cert=${f('client.pem')},key=${f('client-key.pem')}`,
        ],
        { env: dockerEnv(engine, { DOCKER_CONFIG: config }) as Record<string, string>, allowFailure: true },
      );
      assert.equal(created.exitCode, 0, created.stderr);
      const digest = createHash('sha256').update('tls-remote').digest('hex');
      assert.ok(readFileSync(path.join(config, 'contexts', 'tls', digest, 'docker', 'ca.pem')).length > 0);
      const env = { DOCKER_CONFIG: config, DOCKER_HOST: undefined };
      assert.equal(await both(env, ['--context', 'tls-remote', ...VERSION]), 'linux\n');
    });

    it('refuses what the engine or TLS refuses, saying why', async () => {
      const noCert = await berth(
        engine,
        ['-H', tcpHost, '--tlsverify', '--tlscacert', f('ca.pem'), ...VERSION],
        {
          env: { DOCKER_CERT_PATH: f('nowhere') },
        },
      );
      assert.notEqual(noCert.code, 0, 'no client certificate: the engine refuses');
      assert.doesNotMatch(noCert.stdout, /linux/);
      const plain = await berth(engine, ['-H', tcpHost, ...VERSION]);
      assert.notEqual(plain.code, 0, 'plain HTTP to a TLS port');
      const noCa = await berth(engine, ['-H', tcpHost, '--tlsverify', ...VERSION], {
        env: { DOCKER_CERT_PATH: f('nowhere') },
      });
      assert.equal(noCa.code, 1);
      assert.match(
        noCa.stderr,
        /could not read CA certificate ".*nowhere\/ca\.pem": no such file or directory/,
      );
      // --tls without verification talks to the engine whatever its certificate.
      const unverified = await berth(engine, [
        '-H',
        tcpHost,
        '--tls',
        '--tlscert',
        f('client.pem'),
        '--tlskey',
        f('client-key.pem'),
        ...VERSION,
      ]);
      assert.equal(unverified.stdout, 'linux\n', unverified.stderr);
    });
  });

  describe('ssh://', () => {
    let server: ssh2.Server;
    let sshPort: number;
    let pathEnv: string;
    const execs: string[] = [];
    /** What the other host runs for `docker …`: the docker CLI, or berth standing in for it. */
    let remoteCli: string[] = ['docker'];

    before(async () => {
      const keygen = (file: string) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f(file)]);
      await keygen('host_key');
      await keygen('user_key');
      const allowed = ssh2.utils.parseKey(readFileSync(f('user_key.pub')));
      if (allowed instanceof Error) throw allowed;
      server = new ssh2.Server({ hostKeys: [readFileSync(f('host_key'))] }, (client) => {
        client.on('authentication', (ctx) => {
          if (
            ctx.method === 'publickey' &&
            ctx.username === 'tester' &&
            ctx.key.algo === allowed.type &&
            ctx.key.data.equals(allowed.getPublicSSH())
          ) {
            if (!ctx.signature || allowed.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo))
              ctx.accept();
            else ctx.reject();
          } else ctx.reject(['publickey']);
        });
        client.on('session', (accept) => {
          accept().on('exec', (acceptExec, _reject, info) => {
            const stream = acceptExec();
            execs.push(info.command);
            // The other host's docker CLI, talking to its own engine's socket.
            const words = info.command.split(' ');
            const argv = words[0] === 'docker' ? [...remoteCli, ...words.slice(1)] : words;
            const child = spawn(argv[0], argv.slice(1), {
              env: { ...process.env, ...dockerEnv(engine) } as NodeJS.ProcessEnv,
            });
            stream.pipe(child.stdin);
            child.stdout.pipe(stream, { end: false });
            child.stderr.on('data', (d: Buffer) => stream.stderr.write(d));
            child.on('close', (code) => {
              stream.exit(code ?? 1);
              stream.end();
            });
            stream.on('close', () => child.kill());
          });
        });
        client.on('error', () => {
          // a client that went away
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      sshPort = (server.address() as AddressInfo).port;
      const hostPub = readFileSync(f('host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      await fs.writeFile(f('known_hosts'), `[127.0.0.1]:${sshPort} ${hostPub}\n`);
      await fs.writeFile(
        f('ssh_config'),
        `Host *\n  IdentityFile ${f('user_key')}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${f('known_hosts')}\n  StrictHostKeyChecking yes\n  BatchMode yes\n`,
      );
      // The user's ssh configuration, as ~/.ssh/config would hold it: a shim adds -F.
      await fs.mkdir(f('bin'));
      await fs.writeFile(f('bin/ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F '${f('ssh_config')}' "$@"\n`, {
        mode: 0o755,
      });
      pathEnv = `${f('bin')}:${process.env.PATH ?? ''}`;
    });
    after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('DOCKER_HOST=ssh://user@host:port runs `docker system dial-stdio` there: version, run, -i, ps', async () => {
      const env = {
        DOCKER_HOST: `ssh://tester@127.0.0.1:${sshPort}`,
        PATH: pathEnv,
        SSH_AUTH_SOCK: undefined,
      };
      assert.equal(await both(env, VERSION), 'linux\n');
      assert.equal(await both(env, ['run', '--rm', 'busybox', 'echo', 'over ssh']), 'over ssh\n');
      assert.equal(
        await both(env, ['run', '--rm', '-i', 'busybox', 'tr', 'a-z', 'A-Z'], 'through ssh\n'),
        'THROUGH SSH\n',
      );
      await both(env, ['ps', '-a', '--format', '{{.Names}}']);
      assert.ok(execs.length > 0 && execs.every((c) => c === 'docker system dial-stdio'), execs.join('; '));
    });

    it('a socket path in the URL becomes docker --host on the other side', async () => {
      const socket = new URL(engine.host).pathname;
      execs.length = 0;
      const r = await berth(engine, VERSION, {
        env: {
          DOCKER_HOST: `ssh://tester@127.0.0.1:${sshPort}${socket}`,
          PATH: pathEnv,
          SSH_AUTH_SOCK: undefined,
        },
      });
      assert.equal(r.stdout, 'linux\n', r.stderr);
      assert.deepEqual([...new Set(execs)], [`docker --host unix://${socket} system dial-stdio`]);
    });

    it('berth system dial-stdio serves the other side as docker system dial-stdio does', async () => {
      remoteCli = [process.execPath, BERTH_BIN];
      try {
        const env = {
          DOCKER_HOST: `ssh://tester@127.0.0.1:${sshPort}`,
          PATH: pathEnv,
          SSH_AUTH_SOCK: undefined,
        };
        assert.equal(await both(env, VERSION), 'linux\n');
        assert.equal(
          await both(env, ['run', '--rm', '-i', 'busybox', 'tr', 'a-z', 'A-Z'], 'via berth\n'),
          'VIA BERTH\n',
        );
      } finally {
        remoteCli = ['docker'];
      }
    });

    it('a host ssh cannot reach, or a password in the URL, is an error that says so', async () => {
      const closed = await freePort();
      const r = await berth(engine, VERSION, {
        env: { DOCKER_HOST: `ssh://tester@127.0.0.1:${closed}`, PATH: pathEnv, SSH_AUTH_SOCK: undefined },
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /ssh .*exited with code 255: .*Connection refused/);
      const password = await berth(engine, VERSION, {
        env: { DOCKER_HOST: 'ssh://tester:secret@127.0.0.1' },
      });
      assert.equal(password.code, 1);
      assert.match(password.stderr, /plain-text password is not supported/);
    });
  });
});
