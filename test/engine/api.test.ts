// The Engine API itself: negotiation headers, versions, and bad input answered
// with the right status and a message (raw HTTP, as any client could send).
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import Docker from 'dockerode';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { readMounts } from '../helpers/host-cleanup.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  socket: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path, headers: { 'Content-Type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('Engine API', () => {
  const engine = useEngineWithBusybox();
  const call = (method: string, path: string, body?: string | Buffer) =>
    request(engine().socket, method, path, body);

  it('answers ping with the negotiation headers', async () => {
    const head = await call('HEAD', '/_ping');
    assert.equal(head.status, 200);
    assert.equal(head.headers['api-version'], '1.47');
    assert.equal(head.headers['ostype'], 'linux');
    const get = await call('GET', '/_ping');
    assert.equal(get.body, 'OK');
  });

  it('serves versioned and unversioned paths and refuses a too-new version', async () => {
    assert.equal((await call('GET', '/v1.41/version')).status, 200);
    const v = JSON.parse((await call('GET', '/version')).body);
    assert.equal(v.ApiVersion, '1.47');
    const tooNew = await call('GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(
      JSON.parse(tooNew.body).message,
      /client version 1.99 is too new. Maximum supported API version is 1.47/,
    );
    const unknown = await call('GET', '/no/such/endpoint');
    assert.equal(unknown.status, 404);
  });

  it('refuses malformed JSON and wrong types with 400 and creates nothing', async () => {
    const malformed = await call('POST', '/containers/create', '{"Image": "busybox",');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers['content-type'], 'application/json');
    assert.match(JSON.parse(malformed.body).message, /malformed JSON/);
    const wrongType = await call(
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'busybox', Env: 'A=B' }),
    );
    assert.equal(wrongType.status, 400);
    assert.match(JSON.parse(wrongType.body).message, /Env: expected an array of strings/);
    const wrongHost = await call(
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { Memory: '64m' } }),
    );
    assert.equal(wrongHost.status, 400);
    const badName = await call(
      'POST',
      '/containers/create?name=..%2Fescape',
      JSON.stringify({ Image: 'busybox', Cmd: ['true'] }),
    );
    assert.equal(badName.status, 400);
    const noImage = await call(
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'nope:1', Cmd: ['true'] }),
    );
    assert.equal(noImage.status, 404);
    assert.equal(JSON.parse(noImage.body).message, 'No such image: nope:1');
    const list = JSON.parse((await call('GET', '/containers/json?all=1')).body);
    assert.deepEqual(list, []);
  });

  it('uses 304 for no-op start/stop and 404/409 for missing or conflicting containers', async () => {
    const created = JSON.parse(
      (await call('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '300'] })))
        .body,
    );
    assert.equal((await call('POST', `/containers/${created.Id}/stop`)).status, 304);
    assert.equal((await call('POST', `/containers/${created.Id}/start`)).status, 204);
    assert.equal((await call('POST', `/containers/${created.Id}/start`)).status, 304);
    const missing = await call('GET', '/containers/nonexistent/json');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).message, 'No such container: nonexistent');
    assert.equal((await call('DELETE', `/containers/${created.Id}`)).status, 409);
    assert.equal((await call('DELETE', `/containers/${created.Id}?force=1`)).status, 204);
  });

  it('attach through dockerode: its JSON options body is not stdin; what follows it is', async () => {
    const client = new Docker({ socketPath: engine().socket });
    const container = await client.createContainer({
      Image: 'busybox',
      Cmd: ['cat'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
    });
    // dockerode sends these options as the upgraded request's JSON body.
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, hijack: true });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    await container.start();
    stream.end('typed by the user\n');
    assert.equal((await container.wait()).StatusCode, 0);
    await ended;
    // One stdout frame: header (8 bytes) then the data.
    const out = Buffer.concat(chunks);
    assert.equal(out.subarray(8).toString(), 'typed by the user\n');
    await container.remove({ force: true });
  });

  it('attach before start mounts the root filesystem ahead; a container removed unstarted leaves no mount', async () => {
    const client = new Docker({ socketPath: engine().socket });
    const container = await client.createContainer({ Image: 'busybox', Cmd: ['true'], AttachStdout: true });
    const mountedHere = async () =>
      (await readMounts()).filter((m) => m.mountPoint.includes(container.id)).map((m) => m.mountPoint);
    const stream = await container.attach({ stream: true, stdout: true, hijack: true });
    stream.resume();
    await eventually(async () => (await mountedHere()).length === 1, 5000, 'the root filesystem mounted');
    (stream as unknown as { destroy(): void }).destroy();
    await container.remove();
    assert.deepEqual(await mountedHere(), []);
    // And a start after such an attach joins that mount: `docker run` as the CLI does it.
    const second = await client.createContainer({
      Image: 'busybox',
      Cmd: ['echo', 'ran'],
      AttachStdout: true,
    });
    const out = await second.attach({ stream: true, stdout: true, hijack: true });
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => out.on('end', resolve));
    await second.start();
    assert.equal((await second.wait()).StatusCode, 0);
    await ended;
    assert.equal(Buffer.concat(chunks).subarray(8).toString(), 'ran\n');
    await second.remove();
    assert.deepEqual(
      (await readMounts()).filter((m) => m.mountPoint.includes(second.id)),
      [],
      'one mount, gone with the container',
    );
  });

  it('streams exec output without an Upgrade (dockerode/testcontainers style)', async () => {
    const created = JSON.parse(
      (await call('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '300'] })))
        .body,
    );
    await call('POST', `/containers/${created.Id}/start`);
    const exec = JSON.parse(
      (
        await call(
          'POST',
          `/containers/${created.Id}/exec`,
          JSON.stringify({ Cmd: ['echo', 'framed'], AttachStdout: true, AttachStderr: true }),
        )
      ).body,
    );
    const start = await call('POST', `/exec/${exec.Id}/start`, JSON.stringify({ Detach: false, Tty: false }));
    assert.equal(start.status, 200);
    const raw = Buffer.from(start.body, 'binary');
    assert.equal(raw[0], 1, 'stdout frame');
    assert.equal(start.body.slice(8), 'framed\n');
    const info = JSON.parse((await call('GET', `/exec/${exec.Id}/json`)).body);
    assert.equal(info.ExitCode, 0);
    assert.equal(info.Running, false);
    await call('DELETE', `/containers/${created.Id}?force=1`);
  });
});
