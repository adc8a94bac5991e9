// `run --device`, `--ulimit` and `--group-add` through the real docker CLI and
// through berth against a real engine: what the container sees in /dev, its
// rlimits (an exec's too) and its groups, and the errors of bad values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { berth } from '../helpers/berth.js';
import { docker, type DockerResult } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

type Cli = (engine: { host: string }, args: string[]) => Promise<DockerResult>;

const CLIS: Array<[string, Cli]> = [
  ['docker', docker],
  ['berth', berth],
];

describe('run --device, --ulimit, --group-add', () => {
  const engine = useEngineWithBusybox();

  for (const [name, cli] of CLIS) {
    it(`${name}: --device puts the node at its path with the host's numbers, usable only as the permissions say`, async () => {
      const r = await cli(engine(), [
        'run',
        '--rm',
        '--device',
        '/dev/null:/dev/mynull:r',
        '--device',
        '/dev/zero',
        // Not among the devices every container may use: its cgroup rule is the one given here.
        '--device',
        '/dev/loop-control:/dev/lc:r',
        'busybox',
        'sh',
        '-c',
        'stat -c "%F %t:%T %a" /dev/mynull /dev/zero /dev/lc; cat /dev/mynull && echo read-ok; ' +
          ': < /dev/lc && echo lc-read-ok; (: > /dev/lc) 2>/dev/null || echo lc-write-refused; ' +
          'mknod /tmp/fuse c 10 229 && (: < /tmp/fuse) 2>/dev/null || echo unmapped-refused; head -c 3 /dev/zero | od -An -tx1',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        'character special file 1:3 666\ncharacter special file 1:5 666\ncharacter special file a:ed 600\n' +
          'read-ok\nlc-read-ok\nlc-write-refused\nunmapped-refused\n 00 00 00\n',
      );
    });

    it(`${name}: --ulimit sets the rlimits of the container and of its execs`, async () => {
      const created = await cli(engine(), [
        'run',
        '-d',
        '--ulimit',
        'nofile=1024:2048',
        '--ulimit',
        'core=-1',
        '--ulimit',
        'nproc=300',
        'busybox',
        'sleep',
        '60',
      ]);
      assert.equal(created.code, 0, created.stderr);
      const id = created.stdout.trim();
      try {
        const limits = 'echo $(ulimit -Sn) $(ulimit -Hn) $(ulimit -c) $(ulimit -Hu)';
        const exec = await cli(engine(), ['exec', id, 'sh', '-c', limits]);
        assert.equal(exec.stdout, '1024 2048 unlimited 300\n', exec.stderr);
        const pid1 = await cli(engine(), [
          'exec',
          id,
          'grep',
          '-E',
          '^Max (open files|core)',
          '/proc/1/limits',
        ]);
        assert.match(pid1.stdout, /Max core file size\s+unlimited\s+unlimited/);
        assert.match(pid1.stdout, /Max open files\s+1024\s+2048/);
      } finally {
        await docker(engine(), ['rm', '-f', id]);
      }
    });

    it(`${name}: --group-add adds groups by the image's names and by number`, async () => {
      const r = await cli(engine(), [
        'run',
        '--rm',
        '--user',
        'nobody',
        '--group-add',
        'daemon',
        '--group-add',
        '4242',
        'busybox',
        'id',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'uid=65534(nobody) gid=65534(nogroup) groups=1(daemon),4242,65534(nogroup)\n');
    });

    it(`${name}: bad values are refused with exit code 125 and what was wrong`, async () => {
      const group = await cli(engine(), ['run', '--rm', '--group-add', 'nosuchgroup', 'busybox', 'true']);
      assert.equal(group.code, 125);
      assert.match(group.stderr, /Unable to find group nosuchgroup: no matching entries in group file/);
      const device = await cli(engine(), [
        'run',
        '--rm',
        '--device',
        '/dev/no-such-device',
        'busybox',
        'true',
      ]);
      // 127, not 125: the docker CLI takes any start error saying "no such file or directory" for a missing command.
      assert.equal(device.code, 127);
      assert.match(
        device.stderr,
        /error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory/,
      );
      const mode = await cli(engine(), ['run', '--rm', '--device', '/dev/null:/dev/x:rx', 'busybox', 'true']);
      assert.equal(mode.code, 125);
      assert.match(mode.stderr, /bad mode specified: rx/);
      const relative = await cli(engine(), ['run', '--rm', '--device', 'dev/null', 'busybox', 'true']);
      assert.equal(relative.code, 125);
      assert.match(relative.stderr, /dev\/null is not an absolute path/);
      const notDevice = await cli(engine(), ['run', '--rm', '--device', '/etc/hostname', 'busybox', 'true']);
      assert.equal(notDevice.code, 125);
      assert.match(
        notDevice.stderr,
        /Error response from daemon: error gathering device information while adding custom device "\/etc\/hostname": not a device node/,
      );
      const type = await cli(engine(), ['run', '--rm', '--ulimit', 'bogus=1', 'busybox', 'true']);
      assert.equal(type.code, 125);
      assert.match(type.stderr, /invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus/);
      const order = await cli(engine(), ['run', '--rm', '--ulimit', 'nofile=20:10', 'busybox', 'true']);
      assert.equal(order.code, 125);
      assert.match(order.stderr, /ulimit soft limit must be less than or equal to hard limit: 20 > 10/);
    });
  }

  it('berth sends the same HostConfig as the docker CLI (inspect of both containers)', async () => {
    const flags = [
      '--device',
      '/dev/null:/dev/mynull:r',
      '--device',
      '/dev/zero:rw',
      '--ulimit',
      'nofile=1024:2048',
      '--group-add',
      'daemon',
    ];
    const ids: string[] = [];
    for (const cli of [docker, berth]) {
      const r = await cli(engine(), ['create', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
      ids.push(r.stdout.trim());
    }
    const format = '{{json .HostConfig.Devices}} {{json .HostConfig.Ulimits}} {{json .HostConfig.GroupAdd}}';
    const [d, b] = await Promise.all(ids.map((id) => docker(engine(), ['inspect', '-f', format, id])));
    assert.equal(
      d.stdout,
      '[{"PathOnHost":"/dev/null","PathInContainer":"/dev/mynull","CgroupPermissions":"r"},' +
        '{"PathOnHost":"/dev/zero","PathInContainer":"/dev/zero","CgroupPermissions":"rw"}] ' +
        '[{"Name":"nofile","Hard":2048,"Soft":1024}] ["daemon"]\n',
    );
    assert.equal(b.stdout, d.stdout);
    await docker(engine(), ['rm', ...ids]);
  });
});
