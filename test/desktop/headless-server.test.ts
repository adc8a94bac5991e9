// The headless dashboard backend over a real engine: the token, the calls of
// the contract, and the streams (live list, logs, exec, pull errors).
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { LiveMessage, LogLine, LogsMessage } from '../../common/desktop-api.js';
import { startHeadlessServer, type HeadlessServer } from '../../main/headless-server.js';
import { docker } from '../helpers/docker.js';
import { eventually, useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordForSweep } from '../helpers/leftovers.js';

describe('headless dashboard server', () => {
  const engine = useEngineWithBusybox();
  let server: HeadlessServer;
  let home: string;

  before(async () => {
    home = mkdtempSync(path.join(tmpdir(), 'berth-dash-home-'));
    recordForSweep(home);
    server = await startHeadlessServer({ socket: engine().socket, home, staticDir: home, stats: false });
  });
  after(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function call(method: string, params: unknown = {}, token = server.token) {
    const res = await fetch(`${server.url}api/call/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    return {
      status: res.status,
      body: (await res.json()) as { result?: unknown; error?: string; fields?: Record<string, string> },
    };
  }

  function openWs(pathAndQuery: string, token = server.token): WebSocket {
    const sep = pathAndQuery.includes('?') ? '&' : '?';
    return new WebSocket(`ws://127.0.0.1:${server.port}${pathAndQuery}${sep}token=${token}`);
  }

  function collect<T>(ws: WebSocket): T[] {
    const got: T[] = [];
    ws.on('message', (d, binary) => {
      if (!binary) got.push(JSON.parse(d.toString()) as T);
    });
    return got;
  }

  describe('headless server: the token', () => {
    it('refuses calls, pages and WebSockets without the token (401)', async () => {
      assert.equal((await call('containers.list', {}, 'wrong')).status, 401);
      assert.equal((await fetch(server.url)).status, 401);
      const ws = openWs('/ws/live', 'wrong');
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
      });
      assert.equal(status, 401);
    });

    it('trades ?token= on a page for an HttpOnly cookie and takes it out of the address', async () => {
      const res = await fetch(server.openUrl, { redirect: 'manual' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/');
      assert.match(res.headers.get('set-cookie') ?? '', /^berth_token=[^;]+; HttpOnly; SameSite=Strict/);
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
      const api = await fetch(`${server.url}api/call/containers.list`, {
        method: 'POST',
        headers: { cookie },
      });
      assert.equal(api.status, 200);
    });

    it('listens on 127.0.0.1 only and refuses another Host name', async () => {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      // fetch() will not send another Host; http.request will.
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: server.port,
            method: 'POST',
            path: '/api/call/containers.list',
            headers: { authorization: `Bearer ${server.token}`, host: 'evil.example' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 421);
    });
  });

  describe('headless server: calls', () => {
    it('lists a container made with the docker CLI, with its compose project and ports', async () => {
      const r = await docker(engine(), [
        'run',
        '-d',
        '--name',
        'dash-list',
        '--stop-timeout',
        '1',
        '--label',
        'com.docker.compose.project=shop',
        '--label',
        'com.docker.compose.service=web',
        '-p',
        '127.0.0.1::80',
        'busybox',
        'sleep',
        '300',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const { status, body } = await call('containers.list');
      assert.equal(status, 200);
      const row = (
        body.result as Array<{
          name: string;
          state: string;
          project?: string;
          service?: string;
          ports: Array<{ privatePort: number; publicPort?: number }>;
        }>
      ).find((c) => c.name === 'dash-list');
      assert.ok(row, 'the container is listed');
      assert.equal(row.state, 'running');
      assert.equal(row.project, 'shop');
      assert.equal(row.service, 'web');
      assert.equal(row.ports[0].privatePort, 80);
      assert.ok(row.ports[0].publicPort! > 0);
    });

    it('stops, starts and removes through calls, and the engine agrees', async () => {
      assert.equal((await call('containers.stop', { id: 'dash-list' })).status, 200);
      assert.equal(
        (await docker(engine(), ['inspect', '-f', '{{.State.Running}}', 'dash-list'])).stdout.trim(),
        'false',
      );
      assert.equal((await call('containers.start', { id: 'dash-list' })).status, 200);
      assert.equal(
        (await docker(engine(), ['inspect', '-f', '{{.State.Running}}', 'dash-list'])).stdout.trim(),
        'true',
      );
      assert.equal((await call('containers.remove', { id: 'dash-list', force: true })).status, 200);
      assert.notEqual((await docker(engine(), ['inspect', 'dash-list'])).code, 0);
    });

    it("answers an unknown container with the engine's 404 and a missing id with 400", async () => {
      const missing = await call('containers.stop', { id: 'no-such-container' });
      assert.equal(missing.status, 404);
      assert.match(missing.body.error ?? '', /no-such-container/);
      assert.equal((await call('containers.stop', {})).status, 400);
      assert.equal((await call('containers.nope', {})).status, 404);
    });

    it('runs from an image with a port and an env var, and gives the docker run line back', async () => {
      const { status, body } = await call('images.run', {
        image: 'busybox',
        name: 'dash-run',
        ports: [{ containerPort: 8080, protocol: 'tcp' }],
        env: [{ key: 'GREETING', value: 'hello world' }],
        volumes: [],
        command: 'sleep 300',
      });
      assert.equal(status, 200, body.error);
      const env = (await docker(engine(), ['inspect', '-f', '{{json .Config.Env}}', 'dash-run'])).stdout;
      assert.match(env, /GREETING=hello world/);
      const port = (await docker(engine(), ['port', 'dash-run', '8080/tcp'])).stdout;
      assert.match(port, /:\d+/);
      const line = (await call('containers.runLine', { id: 'dash-run' })).body.result as string;
      assert.match(line, /^docker run -d --name dash-run /);
      assert.match(line, /-e 'GREETING=hello world'/);
      assert.match(line, /-p 8080 /);
      assert.match(line, / busybox sleep 300$/);
    });

    it('refuses a run request with bad fields, saying which', async () => {
      const { status, body } = await call('images.run', {
        image: '',
        ports: [{ containerPort: 70000, protocol: 'tcp' }],
        env: [{ key: '1BAD', value: '' }],
        volumes: [],
      });
      assert.equal(status, 400);
      assert.deepEqual(Object.keys(body.fields ?? {}).sort(), [
        'env.0.key',
        'image',
        'ports.0.containerPort',
      ]);
    });

    it('lists, uploads and downloads files through the archive API', async () => {
      const put = await fetch(`${server.url}api/containers/dash-run/archive?path=/tmp&name=note.txt`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${server.token}` },
        body: 'uploaded from the dashboard\n',
      });
      assert.equal(put.status, 200);
      const cat = await docker(engine(), ['exec', 'dash-run', 'cat', '/tmp/note.txt']);
      assert.equal(cat.stdout, 'uploaded from the dashboard\n');
      const list = (await call('containers.files', { id: 'dash-run', path: '/tmp' })).body.result as Array<{
        name: string;
        type: string;
        size: number;
      }>;
      assert.deepEqual(
        list.find((f) => f.name === 'note.txt'),
        { ...list.find((f) => f.name === 'note.txt'), type: 'file', size: 28 },
      );
      const rootListed = await call('containers.files', { id: 'dash-run', path: '/' });
      assert.equal(rootListed.status, 200, rootListed.body.error);
      const etc = rootListed.body.result as Array<{
        name: string;
        type: string;
      }>;
      assert.equal(etc.find((f) => f.name === 'etc')?.type, 'dir');
      const tar = await fetch(`${server.url}api/containers/dash-run/archive?path=/tmp/note.txt`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      assert.equal(tar.status, 200);
      assert.match(tar.headers.get('content-disposition') ?? '', /note\.txt\.tar/);
      assert.ok(Buffer.from(await tar.arrayBuffer()).includes('uploaded from the dashboard'));
    });

    it('validates settings and stores good ones in BERTH_HOME, saying what needs a VM restart', async () => {
      const current = (await call('settings.get')).body.result as Record<string, unknown>;
      const bad = await call('settings.save', {
        settings: { ...current, cpus: 0, daemonJson: '{"bip": 3}' },
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body.fields?.cpus ?? '', /whole number from 1/);
      assert.match(bad.body.fields?.daemonJson ?? '', /"bip" must be a string/);
      const good = await call('settings.save', { settings: { ...current, cpus: 1, theme: 'dark' } });
      assert.equal(good.status, 200, good.body.error);
      assert.deepEqual(
        (good.body.result as { needsRestart: string[] }).needsRestart,
        current.cpus === 1 ? [] : ['cpus'],
      );
      assert.equal(((await call('settings.get')).body.result as { theme: string }).theme, 'dark');
    });
  });

  describe('headless server: streams', () => {
    it('pushes a container started from the CLI to /ws/live, and its removal', async () => {
      const ws = openWs('/ws/live');
      const got = collect<LiveMessage>(ws);
      await eventually(async () => got.some((m) => m.type === 'containers'), 5000, 'the first list');
      const r = await docker(engine(), ['run', '-d', '--name', 'dash-live', 'busybox', 'sleep', '300']);
      const id = r.stdout.trim();
      await eventually(
        async () => got.some((m) => m.type === 'container' && m.row.id === id && m.row.state === 'running'),
        1000,
        'the running container on the live feed',
      );
      await docker(engine(), ['rm', '-f', id]);
      await eventually(
        async () => got.some((m) => m.type === 'container-removed' && m.id === id),
        2000,
        'its removal',
      );
      ws.close();
    });

    it('follows logs on /ws/logs, stdout and stderr apart, with timestamps', async () => {
      await docker(engine(), [
        'run',
        '-d',
        '--name',
        'dash-logs',
        'busybox',
        'sh',
        '-c',
        'echo first; echo oops >&2; sleep 1; echo later; sleep 300',
      ]);
      const ws = openWs('/ws/logs?id=dash-logs&tail=100');
      const got = collect<LogsMessage>(ws);
      const lines = () => got.flatMap((m) => (m.type === 'lines' ? m.lines : [])) as LogLine[];
      await eventually(
        async () => lines().some((l) => l.text === 'later'),
        5000,
        'a line written after the stream opened',
      );
      // stdout and stderr are two pipes: their relative order is not kept, each one's is.
      const got2 = lines().map((l) => `${l.stream}:${l.text}`);
      assert.deepEqual(
        got2.filter((l) => l.startsWith('stdout:')),
        ['stdout:first', 'stdout:later'],
      );
      assert.deepEqual(
        got2.filter((l) => l.startsWith('stderr:')),
        ['stderr:oops'],
      );
      assert.match(lines()[0].ts, /^\d{4}-\d\d-\d\dT/);
      ws.close();
    });

    it('downloads the whole log as text, with timestamps when asked', async () => {
      const res = await fetch(`${server.url}api/containers/dash-logs/logs?timestamps=1`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename=".+\.log"/);
      const lines = (await res.text()).trimEnd().split('\n');
      assert.equal(lines.length, 3);
      for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\S+ (first|oops|later)$/);
      const missing = await fetch(`${server.url}api/containers/no-such/logs`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      assert.equal(missing.status, 404);
    });

    it('runs a shell on /ws/exec: typed input, output, the terminal size, exit code', async () => {
      const ws = openWs('/ws/exec?id=dash-logs&shell=sh&cols=100&rows=30');
      let out = '';
      const controls = collect<{ type: string; code?: number }>(ws);
      ws.on('message', (d, binary) => {
        if (binary) out += d.toString();
      });
      await new Promise((r) => ws.on('open', r));
      // Busybox's line editor asks where the cursor is (ESC[6n) at each prompt and
      // reads the answer before any typing: answer as xterm.js does, then type.
      let prompts = 0;
      const typeAtPrompt = async (line: string) => {
        await eventually(async () => out.split('\x1b[6n').length - 1 > prompts, 5000, 'a prompt');
        prompts++;
        // The cursor sits after the prompt "/ # ": column 5.
        ws.send(Buffer.from('\x1b[6;5R'));
        // Typed as a person types, a key at a time: the line editor drops a burst that arrives with the answer.
        for (const ch of line) {
          ws.send(Buffer.from(ch));
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await typeAtPrompt('echo hello-$((6*7))\n');
      await eventually(async () => out.includes('hello-42'), 5000, 'the echo output').catch((err) => {
        throw new Error(`${(err as Error).message}; got ${JSON.stringify(out)}`);
      });
      await typeAtPrompt('stty size\n');
      await eventually(async () => out.includes('30 100'), 5000, 'the terminal size asked for').catch(
        (err) => {
          throw new Error(`${(err as Error).message}; got ${JSON.stringify(out)}`);
        },
      );
      // A resize while the shell runs (the window was resized) reaches the terminal.
      ws.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
      await new Promise((r) => setTimeout(r, 200));
      await typeAtPrompt('stty size\n');
      await eventually(async () => out.includes('40 120'), 5000, 'the resized terminal').catch((err) => {
        throw new Error(`${(err as Error).message}; got ${JSON.stringify(out)}`);
      });
      await typeAtPrompt('exit 3\n');
      await eventually(async () => controls.some((m) => m.type === 'exit'), 5000, 'the exit');
      assert.equal(controls.find((m) => m.type === 'exit')?.code, 3);
    });

    it('refuses a shell that is not on the list', async () => {
      const ws = openWs('/ws/exec?id=dash-logs&shell=rm');
      const got = collect<{ type: string; message?: string }>(ws);
      await eventually(async () => got.length > 0, 5000, 'an answer');
      assert.equal(got[0].type, 'error');
      assert.match(got[0].message ?? '', /shell must be one of/);
    });
  });
});
