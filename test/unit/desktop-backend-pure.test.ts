// The pure parts of the desktop backend: the docker run line, command splitting,
// stats samples, log line splitting, and the settings rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { DEFAULT_SETTINGS, validateDaemonJson, validateSettings } from '../../common/settings.js';
import { composeDaemonJson } from '../../common/daemon-directives.js';
import { dockerRunLine, shellQuote, splitCommandLine } from '../../main/services/run-line.js';
import { statsSample } from '../../main/services/stats-sample.js';
import { LineSplitter } from '../../main/streams/logs.js';
import type { LogLine } from '../../common/desktop-api.js';

describe('docker run line', () => {
  it('gives back the flags a user set, not the image defaults', () => {
    const c = {
      Id: 'abcdef0123456789',
      Name: '/web',
      Config: {
        Hostname: 'abcdef012345',
        Image: 'nginx:1.27',
        Env: ['PATH=/usr/bin', 'MODE=prod', "QUOTE=it's"],
        Cmd: ['nginx', '-g', 'daemon off;'],
        Labels: { team: 'a', 'com.docker.compose.project': 'x' },
        Tty: false,
        OpenStdin: false,
      },
      HostConfig: {
        PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostPort: '' }] },
        Binds: ['/srv/site:/usr/share/nginx/html:ro'],
        RestartPolicy: { Name: 'unless-stopped' },
        Memory: 268435456,
        NetworkMode: 'bridge',
      },
    } as unknown as Docker.ContainerInspectInfo;
    assert.equal(
      dockerRunLine(c, ['PATH=/usr/bin']),
      "docker run -d --name web -e MODE=prod -e 'QUOTE=it'\\''s' --label team=a -p 127.0.0.1:8080:80 -p 53/udp " +
        "-v /srv/site:/usr/share/nginx/html:ro --restart unless-stopped --memory 268435456 nginx:1.27 nginx -g 'daemon off;'",
    );
  });

  it('quotes only what needs quoting', () => {
    assert.equal(shellQuote('plain-word_1.2/x'), 'plain-word_1.2/x');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
  });

  it('splits a command line as a shell would, without expansions', () => {
    assert.deepEqual(splitCommandLine(`sh -c 'echo "$HOME" && exit 3'`), [
      'sh',
      '-c',
      'echo "$HOME" && exit 3',
    ]);
    assert.deepEqual(splitCommandLine(`a "b \\"c\\"" d\\ e ''`), ['a', 'b "c"', 'd e', '']);
    assert.throws(() => splitCommandLine(`echo 'open`), /unterminated ' quote/);
  });
});

describe('stats samples', () => {
  it('computes CPU % and memory as the docker CLI does', () => {
    const s = statsSample(
      'c1',
      {
        cpu_stats: { cpu_usage: { total_usage: 300 }, system_cpu_usage: 2000, online_cpus: 2 },
        precpu_stats: { cpu_usage: { total_usage: 100 }, system_cpu_usage: 1000 },
        memory_stats: { usage: 1000, limit: 4000, stats: { total_inactive_file: 200 } },
        networks: { eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
        blkio_stats: {
          io_service_bytes_recursive: [
            { op: 'Read', value: 5 },
            { op: 'Write', value: 7 },
          ],
        },
        pids_stats: { current: 3 },
      },
      42,
    );
    assert.deepEqual(s, {
      id: 'c1',
      t: 42,
      cpuPercent: 40,
      memUsage: 800,
      memLimit: 4000,
      netRx: 11,
      netTx: 22,
      blkRead: 5,
      blkWrite: 7,
      pids: 3,
    });
  });

  it('gives 0 % for the first sample (no previous one)', () => {
    assert.equal(
      statsSample('c', { cpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 9 } }).cpuPercent,
      0,
    );
  });
});

describe('log lines', () => {
  it('splits stamped chunks into lines, whatever the chunk borders', () => {
    const got: LogLine[] = [];
    const s = new LineSplitter('stderr', (l) => got.push(l));
    s.push('2024-01-02T03:04:05.000000001Z hel');
    s.push('lo\r\n2024-01-02T03:04:06Z world\nno-stamp');
    s.end();
    assert.deepEqual(got, [
      { stream: 'stderr', ts: '2024-01-02T03:04:05.000000001Z', text: 'hello' },
      { stream: 'stderr', ts: '2024-01-02T03:04:06Z', text: 'world' },
      { stream: 'stderr', ts: '', text: 'no-stamp' },
    ]);
  });
});

describe('settings rules', () => {
  const limits = { hostCpus: 4, hostMemoryMiB: 8192 };

  it('accepts the defaults', () => {
    assert.deepEqual(validateSettings({ ...DEFAULT_SETTINGS }, limits), {});
  });

  it('names each bad field with what it must be', () => {
    const f = validateSettings(
      {
        ...DEFAULT_SETTINGS,
        cpus: 9,
        memoryMiB: 100,
        diskGiB: 1,
        sharedFolders: ['relative/dir'],
        daemonJson: '{',
      },
      limits,
    );
    assert.match(f.cpus, /1 to 4/);
    assert.match(f.memoryMiB, /512 to 8192/);
    assert.match(f.diskGiB, /8 to 2048/);
    assert.match(f.sharedFolders, /relative\/dir/);
    assert.match(f.daemonJson, /not valid JSON/);
  });

  it('checks daemon.json keys and their types', () => {
    assert.equal(
      validateDaemonJson('{"bip":"10.9.0.1/24","iptables":false,"insecure-registries":["r:5000"]}'),
      undefined,
    );
    assert.match(validateDaemonJson('[]') ?? '', /JSON object/);
    assert.match(validateDaemonJson('{"debug-mode":true}') ?? '', /unknown key "debug-mode"/);
    assert.match(validateDaemonJson('{"dns":"1.1.1.1"}') ?? '', /"dns" must be a list of strings/);
    assert.match(validateDaemonJson('{"iptables":"no"}') ?? '', /"iptables" must be true or false/);
    assert.match(validateDaemonJson('{"data-root":"/x"}') ?? '', /unknown key "data-root"/);
    // The log driver has its own fields; a second place for it could contradict them.
    assert.match(validateDaemonJson('{"log-driver":"local"}') ?? '', /log driver and log options fields/);
  });

  it("composes the engine's daemon.json from the log fields and the text", () => {
    assert.equal(composeDaemonJson(DEFAULT_SETTINGS), undefined);
    assert.deepEqual(
      composeDaemonJson({
        logDriver: 'local',
        logOpts: { 'max-size': '5m' },
        daemonJson: '{"bip":"10.9.0.1/24"}',
      }),
      { bip: '10.9.0.1/24', 'log-driver': 'local', 'log-opts': { 'max-size': '5m' } },
    );
  });
});
