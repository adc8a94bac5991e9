// Hostile API input: thousands of malformed requests over the engine socket
// (bad JSON, wrong types in every field, huge headers and bodies, slow
// clients, half-closed hijacked streams, invalid UTF-8, path traversal in every
// name). The engine never crashes, never keeps other clients waiting (a
// /_ping alongside keeps answering), and answers a 4xx with a message.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { httpText, rawRequest, type RawResponse } from './raw-http.js';
import { figuresDir, recordFigures } from './figures.js';

/** Wrong values for a field of any type. */
const WRONG_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e300,
  '',
  'x',
  '\u0000',
  '\ud800',
  [],
  [1, 'a', null],
  {},
  { a: { b: 1 } },
  true,
  'a'.repeat(70_000),
];

/** Names that try to leave where names live. The marker makes anything that got out findable. */
const MARKER = 'fuzzesc';
const HOSTILE_NAMES = [
  `../${MARKER}`,
  `../../../../../../tmp/${MARKER}`,
  `/tmp/${MARKER}`,
  `..%2F..%2F${MARKER}`,
  `a/../../${MARKER}`,
  `.`,
  `..`,
  `${MARKER}\u0000x`,
  `${MARKER}\n`,
  ` ${MARKER}`,
  `${MARKER}/`,
  `\\..\\${MARKER}`,
  `${MARKER}\u202e`,
  'x'.repeat(5000),
];

interface Finding {
  what: string;
  status: number;
  body: string;
}

/** Valid bodies, each field of which the fuzzer replaces with wrong values. */
const CREATE_BODY = {
  Image: 'busybox',
  Cmd: ['true'],
  Entrypoint: ['sh', '-c'],
  Env: ['A=1'],
  Labels: { a: 'b' },
  ExposedPorts: { '80/tcp': {} },
  Volumes: { '/v': {} },
  WorkingDir: '/',
  User: 'root',
  Hostname: 'h',
  Tty: false,
  OpenStdin: false,
  StopSignal: 'SIGTERM',
  StopTimeout: 1,
  Healthcheck: { Test: ['CMD', 'true'], Interval: 1_000_000_000, Retries: 1 },
  HostConfig: {
    Binds: ['/tmp:/hosttmp:ro'],
    PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '0' }] },
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    Memory: 0,
    NanoCpus: 0,
    CpuShares: 0,
    Mounts: [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1024 } }],
    Tmpfs: { '/run': 'size=1m' },
    Dns: ['1.1.1.1'],
    ExtraHosts: ['a:1.2.3.4'],
    CapAdd: ['NET_ADMIN'],
    CapDrop: ['MKNOD'],
    Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'rwm' }],
    Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
    NetworkMode: 'bridge',
    SecurityOpt: ['no-new-privileges'],
    Sysctls: { 'net.ipv4.ip_forward': '1' },
    ShmSize: 1 << 20,
    PidsLimit: 100,
    ReadonlyRootfs: false,
    AutoRemove: false,
    Init: false,
  },
  NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['a'], IPAMConfig: { IPv4Address: '' } } } },
};
const NETWORK_BODY = {
  Name: 'fuzznet',
  Driver: 'bridge',
  Internal: false,
  Attachable: true,
  Labels: { a: 'b' },
  Options: { 'com.docker.network.bridge.name': 'fuzzbr0' },
  IPAM: { Driver: 'default', Config: [{ Subnet: '10.250.0.0/24', Gateway: '10.250.0.1' }], Options: {} },
};
const VOLUME_BODY = { Name: 'fuzzvol', Driver: 'local', DriverOpts: {}, Labels: { a: 'b' } };
const EXEC_BODY = {
  Cmd: ['true'],
  Env: ['A=1'],
  User: 'root',
  WorkingDir: '/',
  Tty: false,
  AttachStdout: true,
  AttachStderr: true,
  Privileged: false,
  DetachKeys: 'ctrl-p,ctrl-q',
};
const UPDATE_BODY = { Memory: 0, CpuShares: 512, PidsLimit: 100, RestartPolicy: { Name: 'no' } };

/** Every path to a value in obj (arrays by index), as key lists. */
function fieldPaths(obj: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (obj === null || typeof obj !== 'object') return [prefix];
  const out: Array<Array<string | number>> = prefix.length ? [prefix] : [];
  for (const [k, v] of Object.entries(obj))
    out.push(...fieldPaths(v, [...prefix, Array.isArray(obj) ? Number(k) : k]));
  return out;
}

function withValue(obj: unknown, at: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of at.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[at[at.length - 1]] = value;
  return copy;
}

describe('API fuzz', () => {
  const engine = useEngineWithBusybox();
  const findings: Finding[] = [];
  let sent = 0;
  let refused = 0;
  let pingFailures = 0;
  let pingMaxMs = 0;
  let pings = 0;
  let monitor: NodeJS.Timeout | undefined;
  let running = '';
  let tmp = '';

  /** Sends one request; a 5xx, a 4xx without a message, or no answer at all is a finding. */
  const send = async (
    what: string,
    data: Buffer | string,
    okStatuses: number[] = [],
    opts: { halfClose?: boolean } = {},
  ): Promise<RawResponse> => {
    const r = await rawRequest(engine().socket, data, {
      end: opts.halfClose,
      timeoutMs: opts.halfClose ? 3000 : 15_000,
    });
    sent++;
    const body = r.body.toString('utf8');
    // A client that hung up before its request was whole gets no answer; that is all it may get.
    if (opts.halfClose && r.status === 0) return r;
    // 501 is Berth's answer to a well-formed request for a feature it does not have (as dockerd's for Swarm).
    if (r.status === 501 && /not supported|supports one/.test(body)) {
      refused++;
      return r;
    }
    if (r.status === 0 || r.timedOut)
      findings.push({ what: `${what}: no answer${r.timedOut ? ' (timed out)' : ''}`, status: 0, body });
    else if (r.status >= 500) findings.push({ what, status: r.status, body: body.slice(0, 300) });
    else if (r.status >= 400) {
      refused++;
      // A HEAD answer has no body to carry a message.
      if (Buffer.from(data).subarray(0, 5).toString() === 'HEAD ') return r;
      let message: unknown;
      try {
        message = (JSON.parse(body) as { message?: unknown }).message;
      } catch {
        // not JSON: a finding below
      }
      if (typeof message !== 'string' || !message.trim())
        findings.push({
          what: `${what}: ${r.status} without a message`,
          status: r.status,
          body: body.slice(0, 300),
        });
    } else if (okStatuses.length && !okStatuses.includes(r.status))
      findings.push({ what: `${what}: unexpected ${r.status}`, status: r.status, body: body.slice(0, 300) });
    return r;
  };
  const postJson = (what: string, target: string, body: unknown) =>
    send(what, httpText('POST', target, JSON.stringify(body)));

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-fuzz-'));
    const r = await docker(engine(), ['run', '-d', '--name', 'target', 'busybox', 'sleep', '3600']);
    assert.equal(r.code, 0, r.stderr);
    running = r.stdout.trim();
    // Another client, all along: it must keep getting answers.
    let busy = false;
    monitor = setInterval(() => {
      if (busy) return;
      busy = true;
      const t0 = performance.now();
      void rawRequest(engine().socket, httpText('GET', '/_ping'), { timeoutMs: 5000 }).then((r) => {
        pings++;
        pingMaxMs = Math.max(pingMaxMs, performance.now() - t0);
        if (r.status !== 200) {
          pingFailures++;
          findings.push({
            what: `a /_ping alongside failed${r.timedOut ? ' (timed out)' : ''}`,
            status: r.status,
            body: r.error ?? '',
          });
        }
        busy = false;
      });
    }, 100);
  });

  after(async () => {
    clearInterval(monitor);
    await recordFigures('api-fuzz', {
      requestsFuzzed: sent,
      refusedWith4xx: refused,
      findings: findings.length,
      pings,
      pingFailures,
      pingMaxMs: Math.round(pingMaxMs),
    });
    await fs.writeFile(path.join(figuresDir, 'api-fuzz-findings.json'), JSON.stringify(findings, null, 1));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  let reported = 0;
  /** This test's findings (each test reports only its own). */
  const assertNoFindings = () => {
    const mine = findings.slice(reported);
    reported = findings.length;
    const list = mine.map((f) => `${f.status} ${f.what}: ${f.body}`);
    assert.deepEqual(list, [], `${list.length} findings`);
  };

  it('bad JSON bodies on every JSON endpoint', async () => {
    const bodies: Array<string | Buffer> = [
      '{',
      '{"Image":',
      'nul',
      '[]',
      '"busybox"',
      '123',
      'true',
      'null',
      '{"Image":"busybox"}x',
      Buffer.from([0xff, 0xfe, 0xfd]),
      Buffer.concat([Buffer.from('{"Image":"'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')]),
      '['.repeat(200_000),
      `{"Image":"busybox","Cmd":${'['.repeat(10_000)}`,
      '{"__proto__":{"polluted":1},"Image":"busybox","Cmd":["true"]}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '{"Image":"busybox","Image":1}',
    ];
    const targets = [
      '/containers/create',
      '/networks/create',
      '/volumes/create',
      `/containers/${running}/exec`,
      `/containers/${running}/update`,
      '/exec/nonexistent/start',
      `/containers/${running}/wait?condition=x`,
      '/networks/bridge/connect',
      '/networks/bridge/disconnect',
      '/commit?container=target',
    ];
    for (const t of targets)
      for (const b of bodies) await send(`POST ${t} with ${String(b).slice(0, 30)}`, httpText('POST', t, b));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assertNoFindings();
  });

  it('wrong types in every field of create, network, volume, exec and update bodies', async () => {
    const cases: Array<[string, unknown]> = [
      ['/containers/create', CREATE_BODY],
      ['/networks/create', NETWORK_BODY],
      ['/volumes/create', VOLUME_BODY],
      [`/containers/${running}/exec`, EXEC_BODY],
      [`/containers/${running}/update`, UPDATE_BODY],
    ];
    for (const [target, body] of cases) {
      for (const at of fieldPaths(body)) {
        for (const value of WRONG_VALUES) {
          const r = await postJson(
            `POST ${target} with ${at.join('.')}=${JSON.stringify(value)?.slice(0, 20)}`,
            target,
            withValue(body, at, value),
          );
          // What was accepted is taken away again, so that the next case starts from the same place.
          if (r.status === 201 && target === '/containers/create') {
            const id = (JSON.parse(r.body.toString()) as { Id: string }).Id;
            await rawRequest(engine().socket, httpText('DELETE', `/containers/${id}?force=1&v=1`));
          }
          if (r.status === 201 && target === '/networks/create')
            await docker(engine(), ['network', 'rm', 'fuzznet']);
        }
      }
      if (target === '/volumes/create') await docker(engine(), ['volume', 'prune', '-af']);
    }
    assertNoFindings();
  });

  it('invalid UTF-8, bad escapes and odd forms in paths, queries and headers', async () => {
    const targets = [
      '/containers/%FF%FE/json',
      '/containers/%/json',
      '/containers/%E0%A4%A/json',
      '/images/%C0%AF/json',
      '/volumes/%ED%A0%80',
      '/networks/%00',
      '/containers/json?filters=%FF',
      '/containers/json?filters={"status":["running"',
      '/containers/json?filters={"status":"running"}',
      '/containers/json?filters=[1,2]',
      '/containers/json?limit=abc',
      '/containers/json?limit=-99999999999999999999',
      '/images/json?filters={"dangling":[1]}',
      `/containers/${running}/logs?tail=%FF&stdout=1`,
      `/containers/${running}/logs?since=abc&stdout=1`,
      `/containers/${running}/top?ps_args=%00`,
      `/containers/${running}/stats?stream=0&one-shot=maybe`,
      '//containers//json',
      '/v0.0/containers/json',
      '/v99.99/containers/json',
      '/v1.x/containers/json',
      '/' + 'a/'.repeat(5000),
      '*',
      'http://evil/containers/json',
      '/containers/json#frag',
      '/../../../../etc/passwd',
    ];
    for (const t of targets) await send(`GET ${t}`, httpText('GET', t));
    const rawBytes = Buffer.concat([
      Buffer.from('GET /containers/'),
      Buffer.from([0xff, 0x80]),
      Buffer.from('/json HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n'),
    ]);
    await send('GET with raw 0xff in the path', rawBytes);
    await send(
      'header with raw 0xff',
      httpText('GET', '/_ping', undefined, { 'X-Registry-Auth': '\xff\xfe' }),
    );
    await send(
      'bad X-Registry-Auth on a tag (read as anonymous, as dockerd does)',
      httpText('POST', '/images/busybox/tag?repo=authfuzz', '', { 'X-Registry-Auth': '%%%' }),
      [201],
    );
    await send('unknown method', httpText('BREW', '/containers/json'));
    await send('HTTP/0.9', 'GET /_ping\r\n\r\n');
    await send('garbage', Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]));
    await send(
      'lying Content-Length, then hang up',
      'POST /containers/create HTTP/1.1\r\nHost: e\r\nContent-Length: 100\r\n\r\n{}',
      [],
      { halfClose: true },
    );
    await send(
      'two Content-Lengths',
      'POST /containers/create HTTP/1.1\r\nHost: e\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}',
    );
    await send(
      'bad chunked body',
      'POST /containers/create HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    );
    assertNoFindings();
  });

  it('huge headers and bodies are refused without harm', async () => {
    await send('a 100 kB header', httpText('GET', '/_ping', undefined, { 'X-Big': 'a'.repeat(100_000) }));
    const many: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) many[`X-H${i}`] = 'v';
    await send('5000 headers', httpText('GET', '/_ping', undefined, many));
    const rss0 = await engineRss(engine().pid);
    const big = `{"Image":"busybox","Cmd":["true"],"Env":["${'A'.repeat(40 << 20)}"]}`;
    const r = await send('a 40 MB JSON body', httpText('POST', '/containers/create', big));
    assert.equal(r.status, 413, 'too large a body is refused as such');
    // An endless chunked body: refused once over the limit, not buffered forever.
    const sock = net.connect(engine().socket);
    await new Promise((res) => sock.once('connect', res));
    sock.write(
      'POST /containers/create HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n',
    );
    const chunk = Buffer.alloc(1 << 20, 0x41);
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => {});
    // Writes as fast as the engine reads, up to 256 MB: it must hang up long before.
    for (let i = 0; i < 256 && !closed; i++) {
      if (!sock.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1'))
        await new Promise((res) => {
          const timer = setTimeout(res, 15_000);
          const done = () => {
            clearTimeout(timer);
            res(undefined);
          };
          sock.once('drain', done);
          sock.once('close', done);
        });
    }
    sent++;
    for (let waited = 0; !closed && waited < 15_000; waited += 100)
      await new Promise((res) => setTimeout(res, 100));
    assert.ok(closed, 'the engine hung up on an endless body');
    sock.destroy();
    const rss1 = await engineRss(engine().pid);
    assert.ok(rss1 - rss0 < 200 << 20, `the engine's memory grew by ${(rss1 - rss0) >> 20} MB`);
    assertNoFindings();
  });

  it('slow clients do not keep others waiting', async () => {
    const slow: net.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const s = net.connect(engine().socket);
      s.on('error', () => {});
      s.write('POST /containers/create HTTP/1.1\r\nHost: e\r\n');
      slow.push(s);
    }
    const drip = setInterval(() => {
      for (const s of slow) s.write('X');
    }, 200);
    try {
      await new Promise((res) => setTimeout(res, 1500));
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const r = await send('a ping among slow clients', httpText('GET', '/_ping'), [200]);
        assert.equal(r.status, 200);
        assert.ok(performance.now() - t0 < 2000, 'answered promptly');
      }
      const list = await send('a list among slow clients', httpText('GET', '/containers/json'), [200]);
      assert.equal(list.status, 200);
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
    }
    sent += slow.length;
    assertNoFindings();
  });

  it('half-closed and dropped hijacked streams leave the engine and the container well', async () => {
    for (let i = 0; i < 15; i++) {
      // Attach, then hang up at once (half-close), or in the middle of the upgrade.
      const attach = `POST /containers/${running}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: e\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n`;
      await rawRequest(engine().socket, attach, { timeoutMs: 300, end: true });
      await rawRequest(engine().socket, attach.slice(0, 40 + i), { timeoutMs: 300, end: true });
      // Exec with a flood of output, dropped after the first bytes.
      const created = await postJson('exec create', `/containers/${running}/exec`, {
        Cmd: ['sh', '-c', 'yes | head -c 2000000'],
        AttachStdout: true,
        AttachStderr: true,
      });
      const id = (JSON.parse(created.body.toString()) as { Id: string }).Id;
      const body = JSON.stringify({ Detach: false, Tty: false });
      const start = `POST /exec/${id}/start HTTP/1.1\r\nHost: e\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      await new Promise<void>((resolve) => {
        const s = net.connect(engine().socket, () => s.write(start));
        s.once('data', () => (i % 2 ? s.end() : s.destroy()));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        setTimeout(() => s.destroy(), 3000);
      });
      sent += 4;
    }
    const still = await docker(engine(), ['exec', 'target', 'echo', 'fine']);
    assert.equal(still.stdout, 'fine\n', still.stderr);
    assert.equal(
      (await docker(engine(), ['inspect', '-f', '{{.State.Running}}', 'target'])).stdout.trim(),
      'true',
    );
    assertNoFindings();
  });

  it('path traversal in every name field is refused, and nothing gets out', async () => {
    const secretDir = path.join(tmp, 'host-secret');
    await fs.mkdir(secretDir);
    await fs.writeFile(path.join(secretDir, 'secret'), 'HOST-SECRET');
    const q = encodeURIComponent;
    for (const name of HOSTILE_NAMES) {
      const e = q(name);
      await send(
        `create name=${name}`,
        httpText('POST', `/containers/create?name=${e}`, JSON.stringify({ Image: 'busybox' })),
      );
      await send(`rename to ${name}`, httpText('POST', `/containers/target/rename?name=${e}`));
      await postJson(`network ${name}`, '/networks/create', { Name: name });
      await postJson(`volume ${name}`, '/volumes/create', { Name: name });
      await send(`tag ${name}`, httpText('POST', `/images/busybox/tag?repo=${e}&tag=x`));
      await send(`tag :${name}`, httpText('POST', `/images/busybox/tag?repo=fuzz&tag=${e}`));
      await send(`commit ${name}`, httpText('POST', `/commit?container=target&repo=${e}`));
      await send(`pull ${name}`, httpText('POST', `/images/create?fromImage=${e}&tag=latest`));
      await send(`build -t ${name}`, httpText('POST', `/build?t=${e}`, Buffer.alloc(1024)));
      await send(`build -f ${name}`, httpText('POST', `/build?dockerfile=${e}`, Buffer.alloc(1024)));
      for (const kind of ['containers', 'images', 'volumes', 'networks', 'exec']) {
        const suffix = kind === 'containers' || kind === 'images' || kind === 'exec' ? '/json' : '';
        await send(`inspect ${kind} ${name}`, httpText('GET', `/${kind}/${e}${suffix}`));
        await send(`delete ${kind} ${name}`, httpText('DELETE', `/${kind}/${e}`));
      }
      await send(`archive of ${name}`, httpText('GET', `/containers/target/archive?path=${e}`));
      await send(`export of ${name}`, httpText('GET', `/containers/${e}/export`));
    }
    // Leaving the container's root through archive paths reads the container, never the host.
    const up = '../'.repeat(30);
    const read = await send(
      'archive ../../host file',
      httpText('GET', `/containers/target/archive?path=${q(up + secretDir.slice(1) + '/secret')}`),
    );
    assert.equal(read.status, 404);
    assert.doesNotMatch(read.body.toString('latin1'), /HOST-SECRET/);
    const head = await send(
      'archive stat ../../host file',
      httpText('HEAD', `/containers/target/archive?path=${q(up + secretDir.slice(1))}`),
    );
    assert.equal(head.status, 404);
    // Writing through ../: lands inside the container, if anywhere.
    const tar = await docker(engine(), [
      'exec',
      'target',
      'sh',
      '-c',
      `mkdir -p /w && echo in > /w/${MARKER}-put && tar -C /w -cf - ${MARKER}-put | base64`,
    ]);
    await send(
      'archive put to ../../',
      httpText('PUT', `/containers/target/archive?path=${q(up + 'tmp')}`, Buffer.from(tar.stdout, 'base64')),
      [200],
    );

    const escaped = await findMarker(MARKER, [path.dirname(engine().dataRoot)]);
    assert.deepEqual(escaped, [], 'nothing named after the fuzzer exists outside the engine');
    assertNoFindings();
  });

  it('is still the same engine, alive and answering', async () => {
    clearInterval(monitor);
    assert.ok(process.kill(engine().pid, 0), 'the engine process is alive');
    const r = await docker(engine(), ['run', '--rm', 'busybox', 'echo', 'ok']);
    assert.equal(r.stdout, 'ok\n', r.stderr);
    assert.equal(pingFailures, 0, `${pingFailures} of ${pings} pings alongside the fuzzing failed`);
    assert.ok(pings > 10, 'the ping monitor ran');
    assert.ok(sent > 2000, `${sent} requests fuzzed`);
    // While the engine still runs (the after hooks come after its own): a user network's bridge outlives a
    // stopped engine, as with dockerd, and would be left in the suite's namespace for the tests after this.
    const pruned = await docker(engine(), ['system', 'prune', '-f', '--volumes']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual((await docker(engine(), ['network', 'ls', '-q', '--filter', 'type=custom'])).stdout, '');
  });
});

async function engineRss(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** Entries whose name holds the marker, in the places a path traversal would land (the engine's own dir excepted). */
async function findMarker(marker: string, except: string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (except.some((e) => dir === e || dir.startsWith(e + '/'))) return;
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.name.includes(marker)) found.push(p);
      if (e.isDirectory() && depth > 0 && !['proc', 'sys', 'dev', 'run'].includes(e.name))
        await walk(p, depth - 1);
    }
  };
  for (const root of ['/', '/tmp', '/etc', '/var/lib', '/root']) await walk(root, root === '/' ? 0 : 2);
  return found;
}
