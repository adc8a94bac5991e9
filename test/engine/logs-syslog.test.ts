// The syslog log driver through the real docker CLI, against syslog receivers
// on loopback (a UDP socket, a TCP listener): dockerd's message formats and
// priorities, the tag, docker logs through the local cache, an unreachable
// server failing the start, and the options refused with dockerd's words.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { freePort } from '../helpers/free-port.js';
import { SERVER_EXT, testCerts } from '../helpers/test-certs.js';

describe('syslog log driver', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  let udp: dgram.Socket;
  let udpPort: number;
  let tcp: net.Server;
  let tcpPort: number;
  const udpMessages: string[] = [];
  let tcpText = '';

  before(async () => {
    udp = dgram.createSocket('udp4');
    udp.on('message', (m) => udpMessages.push(m.toString()));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udpPort = udp.address().port;
    tcp = net.createServer((s) => s.on('data', (chunk) => (tcpText += chunk.toString())));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    tcpPort = (tcp.address() as net.AddressInfo).port;
  });
  after(async () => {
    udp.close();
    await new Promise((resolve) => tcp.close(resolve));
  });

  const runToEnd = async (args: string[]) => {
    const r = await d('run', '-d', ...args, 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2');
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.equal((await d('wait', id)).code, 0);
    return id;
  };

  it('sends each line over UDP as dockerd does: the tag, stdout at info and stderr at err of the facility', async () => {
    const id = await runToEnd([
      '--log-driver',
      'syslog',
      '--log-opt',
      `syslog-address=udp://127.0.0.1:${udpPort}`,
      '--log-opt',
      'syslog-facility=local3',
      '--log-opt',
      'tag={{.Name}}',
      '--name',
      'sys-udp',
    ]);
    await eventually(async () => udpMessages.length >= 2, 5000, 'both lines received');
    // local3 is 19: 19*8+6 for info, 19*8+3 for err; dockerd's default format has no hostname.
    const stamp = '[A-Z][a-z]{2} [ \\d]\\d \\d{2}:\\d{2}:\\d{2}';
    const line = (text: string) => udpMessages.find((m) => m.endsWith(text)) ?? udpMessages.join('\n');
    assert.match(line('to-out'), new RegExp(`^<158>${stamp} sys-udp\\[\\d+\\]: to-out$`));
    assert.match(line('to-err'), new RegExp(`^<155>${stamp} sys-udp\\[\\d+\\]: to-err$`));
    // The local cache keeps docker logs working, as dockerd's dual logging does.
    const logs = await d('logs', id);
    assert.equal(logs.stdout, 'to-out\n');
    assert.equal(logs.stderr, 'to-err\n');
  });

  it('over TCP in RFC 5424: one message a line, with the hostname, the tag as app name and message id', async () => {
    await runToEnd([
      '--log-driver',
      'syslog',
      '--log-opt',
      `syslog-address=tcp://127.0.0.1:${tcpPort}`,
      '--log-opt',
      'syslog-format=rfc5424micro',
      '--log-opt',
      'tag=web',
    ]);
    await eventually(async () => tcpText.split('\n').length >= 3, 5000, 'both lines received');
    const lines = tcpText.split('\n');
    const out = lines.find((l) => l.endsWith('to-out'));
    const err = lines.find((l) => l.endsWith('to-err'));
    const host = os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const time = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}(Z|[+-]\\d{2}:\\d{2})';
    assert.match(out!, new RegExp(`^<30>1 ${time} ${host} web \\d+ web - to-out$`));
    assert.match(err!, new RegExp(`^<27>1 ${time} ${host} web \\d+ web - to-err$`));
  });

  it('over tcp+tls, verified against syslog-tls-ca-cert, RFC 5424 octet-counted (RFC 5425)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-syslog-tls-'));
    try {
      const certs = testCerts(dir);
      await certs.ca('ca');
      await certs.signed('server', 'ca', SERVER_EXT);
      let text = '';
      const server = tls.createServer(
        {
          cert: await fs.readFile(path.join(dir, 'server.pem')),
          key: await fs.readFile(path.join(dir, 'server-key.pem')),
        },
        (s) => s.on('data', (chunk) => (text += chunk.toString())),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      try {
        await runToEnd([
          '--log-driver',
          'syslog',
          '--log-opt',
          `syslog-address=tcp+tls://127.0.0.1:${port}`,
          '--log-opt',
          `syslog-tls-ca-cert=${path.join(dir, 'ca.pem')}`,
          '--log-opt',
          'syslog-format=rfc5424',
          '--log-opt',
          'tag=secure',
        ]);
        await eventually(async () => /to-out/.test(text) && /to-err/.test(text), 5000, 'both lines received');
        // Each message is "LENGTH MESSAGE", the length in bytes.
        let rest = text;
        const messages: string[] = [];
        while (rest) {
          const m = /^(\d+) /.exec(rest);
          assert.ok(m, `octet-counted framing: ${JSON.stringify(rest)}`);
          const start = m[0].length;
          messages.push(rest.slice(start, start + Number(m[1])));
          rest = rest.slice(start + Number(m[1]));
        }
        assert.equal(messages.length, 2, text);
        assert.ok(
          messages.every((msg) => /^<\d+>1 \S+ \S+ secure \d+ secure - to-(out|err)$/.test(msg)),
          text,
        );
        // Without the CA the server's certificate is not trusted: the start fails.
        const untrusted = await d(
          'run',
          '--rm',
          '--log-driver',
          'syslog',
          '--log-opt',
          `syslog-address=tcp+tls://127.0.0.1:${port}`,
          'busybox',
          'true',
        );
        assert.notEqual(untrusted.code, 0);
        assert.match(
          untrusted.stderr,
          /failed to initialize logging driver: dial tcp 127\.0\.0\.1:\d+: .*certificate/,
        );
      } finally {
        server.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('an unreachable server fails the start, with the address; bad options are refused at create', async () => {
    const port = await freePort();
    const r = await d(
      'run',
      '--rm',
      '--log-driver',
      'syslog',
      '--log-opt',
      `syslog-address=tcp://127.0.0.1:${port}`,
      'busybox',
      'true',
    );
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `failed to initialize logging driver: dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`,
      ),
    );
    const refused: [string[], RegExp][] = [
      [[], /syslog-address is required: udp:\/\/HOST\[:PORT\]/],
      [['syslog-address=unixgram:///dev/log'], /a unixgram socket is not supported by Berth/],
      [['syslog-address=udp://127.0.0.1:1', 'syslog-facility=bogus'], /invalid syslog facility value: bogus/],
      [['syslog-address=udp://127.0.0.1:1', 'syslog-format=json'], /Invalid syslog format: json/],
      [
        ['syslog-address=udp://127.0.0.1:1', 'syslog-bogus=1'],
        /unknown log opt 'syslog-bogus' for syslog log driver/,
      ],
    ];
    for (const [opts, expected] of refused) {
      const c = await d(
        'create',
        '--log-driver',
        'syslog',
        ...opts.flatMap((o) => ['--log-opt', o]),
        'busybox',
      );
      assert.notEqual(c.code, 0, opts.join(' '));
      assert.match(c.stderr, expected);
    }
  });
});
