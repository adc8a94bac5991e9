// --userns-remap=default, as dockerd does it: the engine makes the dockremap
// user with a range of subordinate ids, and every container's root is the
// first of them on the host. Inside, `id` says 0 and image files belong to
// root; on the host the process runs as the subordinate uid, and what it
// writes to a bind mount is owned by that uid. --userns=host opts out.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { docker, dockerEnv } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { run } from '../../guest-agent/util/subprocess.js';

const USER = 'dockremap';

async function hadUser(): Promise<boolean> {
  return (await fs.readFile('/etc/passwd', 'utf8')).split('\n').some((l) => l.startsWith(`${USER}:`));
}

/** The first subordinate id the files grant dockremap. */
async function subordinateStart(file: string): Promise<number> {
  const line = (await fs.readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(`${USER}:`));
  assert.ok(line, `${file} has a range for ${USER}`);
  return Number(line.split(':')[1]);
}

/** "Uid:\treal\teffective\tsaved\tfs" of a host process. */
async function hostIds(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]),
  };
}

/** The owners of the entries of a tar, by name. */
async function tarOwners(buf: Buffer): Promise<Map<string, { uid: number; gid: number }>> {
  const out = new Map<string, { uid: number; gid: number }>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      out.set(h.name, { uid: h.uid ?? -1, gid: h.gid ?? -1 });
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(buf);
  await done;
  return out;
}

const existedBefore = await hadUser();

describe('--userns-remap=default', () => {
  const engine = useEngineWithBusybox({ extraArgs: ['--userns-remap', 'default'] });
  let tmp = '';
  let uidBase = 0;
  let gidBase = 0;

  before(async () => {
    // A test engine's data root is in a 0700 temp dir: container root, an
    // unprivileged uid on the host, must be let through it as any other user would.
    await fs.chmod(path.dirname(engine().dataRoot), 0o711);
    uidBase = await subordinateStart('/etc/subuid');
    gidBase = await subordinateStart('/etc/subgid');
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-userns-'));
    await fs.chmod(tmp, 0o777);
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
    if (!existedBefore) {
      // The engine made the user, as dockerd would; this machine did not have it.
      await run('userdel', [USER], { allowFailure: true });
      await run('groupdel', [USER], { allowFailure: true });
      for (const f of ['/etc/subuid', '/etc/subgid']) {
        const lines = (await fs.readFile(f, 'utf8')).split('\n').filter((l) => !l.startsWith(`${USER}:`));
        await fs.writeFile(f, lines.join('\n'));
      }
    }
  });

  it('made dockremap with a subordinate range, and keeps its state in <data-root>/<uid>.<gid>', async () => {
    assert.ok(await hadUser());
    assert.ok(uidBase >= 100000 && gidBase >= 100000);
    const remapped = path.join(engine().dataRoot, `${uidBase}.${gidBase}`);
    const st = await fs.stat(remapped);
    assert.equal(st.mode & 0o777, 0o710);
    assert.equal(st.gid, gidBase);
    const info = await docker(engine(), ['info', '-f', '{{json .SecurityOptions}}']);
    assert.match(info.stdout, /name=userns/);
  });

  it('runs containers as root inside and as the subordinate uid on the host', async () => {
    const id = await docker(engine(), ['run', '--rm', 'busybox', 'id']);
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, /^uid=0\(root\) gid=0\(root\)/);
    // Image files belong to root in the container; the root filesystem takes writes at "/".
    const files = await docker(engine(), [
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'stat -c "%u:%g" /bin/sh /etc; mkdir /made && touch /made/f && stat -c "%u:%g" /made/f; cat /proc/self/uid_map',
    ]);
    assert.equal(files.code, 0, files.stderr);
    const lines = files.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), ['0:0', '0:0', '0:0']);
    assert.deepEqual(lines[3]!.trim().split(/\s+/).map(Number), [0, uidBase, 65536]);

    // /sys is a sysfs of the container's own network namespace: its interfaces, not the host's.
    const sys = await docker(engine(), ['run', '--rm', 'busybox', 'ls', '/sys/class/net']);
    assert.equal(sys.code, 0, sys.stderr);
    assert.deepEqual(sys.stdout.trim().split(/\s+/).sort(), ['eth0', 'lo']);
    const none = await docker(engine(), [
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'ls',
      '/sys/class/net',
    ]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout.trim(), 'lo');

    const r = await docker(engine(), ['run', '-d', 'busybox', 'sleep', '60']);
    assert.equal(r.code, 0, r.stderr);
    const cid = r.stdout.trim();
    const pid = Number((await docker(engine(), ['inspect', '-f', '{{.State.Pid}}', cid])).stdout);
    assert.deepEqual(await hostIds(pid), { uid: uidBase, gid: gidBase });
    await docker(engine(), ['rm', '-f', cid]);
  });

  it("writes to a bind mount as the subordinate uid; a named volume is container root's", async () => {
    const r = await docker(engine(), [
      'run',
      '--rm',
      '-v',
      `${tmp}:/out`,
      '-v',
      'remapvol:/vol',
      'busybox',
      'sh',
      '-c',
      'echo hi > /out/written && echo v > /vol/x && stat -c "%u:%g" /vol /vol/x',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0:0', '0:0']);
    const st = await fs.stat(path.join(tmp, 'written'));
    assert.deepEqual({ uid: st.uid, gid: st.gid }, { uid: uidBase, gid: gidBase });
    await docker(engine(), ['volume', 'rm', 'remapvol']);
  });

  it('docker cp speaks container ids both ways', async () => {
    const r = await docker(engine(), ['run', '-d', 'busybox', 'sh', '-c', 'sleep 60']);
    assert.equal(r.code, 0, r.stderr);
    const cid = r.stdout.trim();
    try {
      const made = await docker(engine(), ['exec', cid, 'sh', '-c', 'touch /f && chown 1000:1000 /f']);
      assert.equal(made.code, 0, made.stderr);
      // Out: the tar names 1000, not the host's subordinate id for it.
      const tarFile = path.join(tmp, 'out.tar');
      await run('sh', ['-c', `docker cp ${cid}:/f - > ${tarFile}`], { env: dockerEnv(engine()) });
      assert.deepEqual((await tarOwners(await fs.readFile(tarFile))).get('f'), { uid: 1000, gid: 1000 });
      // In: a file the host owns as 0:0 arrives as the container's root.
      const src = path.join(tmp, 'in');
      await fs.writeFile(src, 'x');
      const cp = await docker(engine(), ['cp', src, `${cid}:/in`]);
      assert.equal(cp.code, 0, cp.stderr);
      const owner = await docker(engine(), ['exec', cid, 'stat', '-c', '%u:%g', '/in']);
      assert.equal(owner.stdout.trim(), '0:0');
    } finally {
      await docker(engine(), ['rm', '-f', cid]);
    }
  });

  it('builds: files from RUN and COPY belong to root in the image, as in any container', async () => {
    const ctx = path.join(tmp, 'ctx');
    await fs.mkdir(ctx);
    await fs.writeFile(path.join(ctx, 'f'), 'copied');
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN mkdir /r && touch /r/f && chown 1000:1000 /r/f\nCOPY f /c/d/f\n',
    );
    const b = await docker(engine(), ['build', '-q', '-t', 'remapped-build', ctx], {
      env: { DOCKER_BUILDKIT: '0' },
    });
    assert.equal(b.code, 0, b.stderr);
    const r = await docker(engine(), [
      'run',
      '--rm',
      'remapped-build',
      'stat',
      '-c',
      '%n %u:%g',
      '/r',
      '/r/f',
      '/c',
      '/c/d',
      '/c/d/f',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '/r 0:0',
      '/r/f 1000:1000',
      '/c 0:0',
      '/c/d 0:0',
      '/c/d/f 0:0',
    ]);
    await docker(engine(), ['rmi', 'remapped-build']);
  });

  it('is read from daemon.json too; a user without subordinate ids is refused at start', async () => {
    const config = path.join(tmp, 'daemon.json');
    await fs.writeFile(config, JSON.stringify({ 'userns-remap': 'nobody:nogroup' }));
    const r = await run(
      process.execPath,
      [
        path.join(import.meta.dirname, '..', '..', 'bin', 'berth-engine'),
        '--config-file',
        config,
        '--data-root',
        path.join(tmp, 'root'),
        '-H',
        `unix://${path.join(tmp, 'sock')}`,
      ],
      { allowFailure: true, timeoutMs: 30_000 },
    );
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /--userns-remap: no subordinate uid range for "nobody" in \/etc\/subuid/);
  });

  it('--userns=host opts out; --privileged needs it', async () => {
    const r = await docker(engine(), ['run', '-d', '--userns', 'host', 'busybox', 'sleep', '60']);
    assert.equal(r.code, 0, r.stderr);
    const cid = r.stdout.trim();
    const pid = Number((await docker(engine(), ['inspect', '-f', '{{.State.Pid}}', cid])).stdout);
    assert.deepEqual(await hostIds(pid), { uid: 0, gid: 0 });
    const map = await docker(engine(), ['exec', cid, 'cat', '/proc/self/uid_map']);
    assert.deepEqual(map.stdout.trim().split(/\s+/).map(Number), [0, 0, 4294967295]);
    await docker(engine(), ['rm', '-f', cid]);

    const privileged = await docker(engine(), ['run', '--rm', '--privileged', 'busybox', 'true']);
    assert.notEqual(privileged.code, 0);
    assert.match(privileged.stderr, /privileged mode is incompatible with user namespaces/);
    const both = await docker(engine(), [
      'run',
      '--rm',
      '--privileged',
      '--userns',
      'host',
      'busybox',
      'true',
    ]);
    assert.equal(both.code, 0, both.stderr);
    const hostNet = await docker(engine(), ['run', '--rm', '--network', 'host', 'busybox', 'true']);
    assert.notEqual(hostNet.code, 0);
    assert.match(
      hostNet.stderr,
      /cannot share the host's network namespace when user namespaces are enabled/,
    );
    const bad = await docker(engine(), ['run', '--rm', '--userns', 'nope', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid USER mode: nope|--userns: invalid USER mode/);
  });
});
