// berth explain and GET /berth/containers/{id}/explain on a real container with
// a memory limit, a volume, a published port and variables from the image's
// ENV, --env-file and -e: what it says is checked against /proc, /sys, inspect.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContainerExplanation } from '../../common/explain.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { berth } from '../helpers/berth.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordForSweep } from '../helpers/leftovers.js';

describe('berth explain', () => {
  const engine = useEngineWithBusybox();
  let dir: string;
  let x: ContainerExplanation;
  const b = (args: string[]) => berth(engine(), args);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-explain-'));
    recordForSweep(dir);
    writeFileSync(
      path.join(dir, 'Dockerfile'),
      'FROM busybox\nENV FROM_IMAGE=image OVERRIDDEN=image-value\n',
    );
    writeFileSync(path.join(dir, 'app.env'), '# settings\nFROM_FILE=file\nOVERRIDDEN=file\nBOTH=file\n');
    const built = await b(['build', '-q', '-t', 'explain-env', dir]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const run = await b([
      'run',
      '-d',
      '--name',
      'ex',
      '--memory',
      '64m',
      '--pids-limit',
      '50',
      '-v',
      'exvol:/data',
      '-p',
      '18081:80',
      '--env-file',
      path.join(dir, 'app.env'),
      '-e',
      'BOTH=flag',
      '-e',
      'FROM_FLAG=flag',
      'explain-env',
      'sleep',
      '300',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const r = await b(['explain', '--format', 'json', 'ex']);
    assert.equal(r.code, 0, r.stderr);
    x = JSON.parse(r.stdout) as ContainerExplanation;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const inspect = async (format: string, ref = 'ex') =>
    (await docker(engine(), ['inspect', '-f', format, ref])).stdout.trim();

  it("namespaces: the container's own, by the inodes /proc shows, beside the engine's", async () => {
    const pid = Number(await inspect('{{.State.Pid}}'));
    assert.equal(x.pid, pid);
    assert.ok(x.running);
    const byType = Object.fromEntries(x.namespaces.map((n) => [n.type, n]));
    for (const type of ['pid', 'net', 'mnt', 'ipc', 'uts'] as const) {
      const n = byType[type];
      assert.ok(n, `${type} namespace listed`);
      assert.equal(n.container, statSync(`/proc/${pid}/ns/${type}`).ino);
      assert.equal(n.host, statSync(`/proc/${engine().pid}/ns/${type}`).ino);
      assert.equal(n.shared, false, `${type} is the container's own`);
    }
    // No user namespace: the container shares the host's, and explain says so.
    assert.equal(byType.user.shared, true);
    assert.equal(byType.user.container, byType.user.host);
  });

  it('cgroup: the memory and pids limits the kernel holds, and current use', () => {
    assert.equal(x.cgroup.path, `/berth/${x.id}`);
    assert.equal(x.cgroup.memory.limit, 64 * 1024 * 1024);
    assert.ok((x.cgroup.memory.usage ?? 0) > 0, 'memory in use');
    assert.equal(x.cgroup.pids.limit, 50);
    assert.ok((x.cgroup.pids.current ?? 0) >= 1);
    assert.equal(x.cgroup.cpu.limit, null);
    assert.ok((x.cgroup.cpu.usageNanos ?? 0) > 0);
  });

  it('root filesystem, mounts, network and ports match inspect and the host', async () => {
    assert.equal(x.rootfs.upperDir, await inspect('{{.GraphDriver.Data.UpperDir}}'));
    assert.equal(x.rootfs.merged, await inspect('{{.GraphDriver.Data.MergedDir}}'));
    assert.equal(x.rootfs.lowerDirs.join(':'), await inspect('{{.GraphDriver.Data.LowerDir}}'));
    assert.ok(existsSync(x.rootfs.upperDir));
    assert.equal(x.rootfs.readOnly, false);
    const volumePath = (
      await docker(engine(), ['volume', 'inspect', '-f', '{{.Mountpoint}}', 'exvol'])
    ).stdout.trim();
    assert.deepEqual(x.mounts, [
      { type: 'volume', source: 'exvol', hostPath: volumePath, destination: '/data', readOnly: false },
    ]);
    assert.equal(x.networkMode, 'bridge');
    assert.equal(x.networks.length, 1);
    const net = x.networks[0];
    assert.equal(net.name, 'bridge');
    assert.equal(net.ipAddress, await inspect('{{.NetworkSettings.Networks.bridge.IPAddress}}'));
    assert.equal(net.macAddress, await inspect('{{.NetworkSettings.Networks.bridge.MacAddress}}'));
    assert.equal(net.gateway, await inspect('{{.NetworkSettings.Networks.bridge.Gateway}}'));
    assert.ok(net.vethHost && net.bridge);
    // The veth's host end is a port of that bridge.
    const link = await run('ip', ['-o', 'link', 'show', 'dev', net.vethHost!]);
    assert.match(link.stdout, new RegExp(`^\\d+: ${net.vethHost}@\\S+ .* master ${net.bridge} `));
    assert.deepEqual(
      x.ports.filter((p) => p.hostIp === '0.0.0.0'),
      [{ containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 18081 }],
    );
  });

  it('every variable with its source: image ENV, --env-file, -e', () => {
    const env = Object.fromEntries(x.env.map((e) => [e.key, e]));
    assert.deepEqual(env.FROM_IMAGE, { key: 'FROM_IMAGE', value: 'image', source: 'image' });
    assert.deepEqual(env.OVERRIDDEN, {
      key: 'OVERRIDDEN',
      value: 'file',
      source: 'env-file',
      imageValue: 'image-value',
    });
    assert.deepEqual(env.FROM_FILE, { key: 'FROM_FILE', value: 'file', source: 'env-file' });
    assert.deepEqual(env.BOTH, { key: 'BOTH', value: 'flag', source: '-e' });
    assert.deepEqual(env.FROM_FLAG, { key: 'FROM_FLAG', value: 'flag', source: '-e' });
    assert.equal(env.PATH.source, 'image');
  });

  it('prints it for people', async () => {
    const r = await b(['explain', 'ex']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Container ex \([0-9a-f]{12}\), image explain-env: running, pid \d+/);
    assert.match(r.stdout, /^ {2}net +\d+ \/ \d+ +own$/m);
    assert.match(r.stdout, /^ {2}user +(\d+) \/ \1 +shared with the host$/m);
    assert.match(r.stdout, /^ {2}memory +limit 64MiB, [\d.]+[KMG]?i?B in use$/m);
    assert.match(r.stdout, /^ {2}pids +limit 50, \d+ now$/m);
    assert.match(r.stdout, /^ {2}volume +exvol → \/data +rw +\/\S+\/_data$/m);
    assert.match(r.stdout, /^ {2}0\.0\.0\.0:18081 +→ 80\/tcp$/m);
    assert.match(r.stdout, /^ {2}BOTH=flag +-e$/m);
    assert.match(r.stdout, /^ {2}OVERRIDDEN=file +--env-file \(image had image-value\)$/m);
    assert.match(r.stdout, /^ {2}FROM_IMAGE=image +image ENV$/m);
    assert.match(
      r.stdout,
      /^ {2}bridge +\d+\.\d+\.\d+\.\d+\/\d+ +mac \S+ +gateway \S+ +veth veth\w+ on bridge \S+$/m,
    );
  });

  it('a container from another client: its variables are "create request", labels from compose are read', async () => {
    const made = await docker(engine(), [
      'create',
      '--name',
      'plain',
      '-e',
      'FROM_CLI=1',
      '-e',
      'A=2',
      '-l',
      'berth.compose.environment-sources={"A":"environment (interpolated)"}',
      'explain-env',
      'true',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const r = await b(['explain', '-f', '{{json .env}}', 'plain']);
    const env = Object.fromEntries(
      (JSON.parse(r.stdout) as ContainerExplanation['env']).map((e) => [e.key, e.source]),
    );
    assert.equal(env.FROM_CLI, 'create request');
    assert.equal(env.A, 'compose .env interpolation');
    assert.equal(env.FROM_IMAGE, 'image');
    const stopped = JSON.parse(
      (await b(['explain', '--format', 'json', 'plain'])).stdout,
    ) as ContainerExplanation;
    assert.equal(stopped.running, false);
    assert.deepEqual(stopped.namespaces, []);
    assert.equal(stopped.cgroup.memory.usage, null);
  });

  it("an unknown container is a 404 with docker's words", async () => {
    const r = await b(['explain', 'nosuch']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
  });
});
