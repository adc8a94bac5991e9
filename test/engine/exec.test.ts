// `docker exec`, plain and interactive, and its exit codes.
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import { docker } from '../helpers/docker.js';
import { dockerPty } from '../helpers/pty.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

describe('docker exec', () => {
  const engine = useEngineWithBusybox();
  const d = (...args: string[]) => docker(engine(), args);
  let id = '';
  before(async () => {
    const run = await d('run', '-d', '-e', 'FROM_RUN=yes', 'busybox', 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    id = run.stdout.trim();
  });
  after(async () => {
    await d('rm', '-f', id);
  });

  it('runs a command in the running container with its env, and exit codes', async () => {
    const r = await d('exec', id, 'sh', '-c', 'echo $FROM_RUN $EXTRA; hostname');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `yes\n${id.slice(0, 12)}\n`);
    const env = await d(
      'exec',
      '-e',
      'EXTRA=x',
      '-w',
      '/tmp',
      '-u',
      '65534',
      id,
      'sh',
      '-c',
      'echo $EXTRA $(pwd) $(id -u)',
    );
    assert.equal(env.stdout.trim(), 'x /tmp 65534');
    const code = await d('exec', id, 'sh', '-c', 'exit 4');
    assert.equal(code.code, 4);
    const missing = await d('exec', id, 'no-such-binary');
    assert.equal(missing.code, 126, missing.stderr);
    assert.match(missing.stderr, /no-such-binary.*executable file not found/);
    const badUser = await d('exec', '-u', 'nobody-here', id, 'true');
    assert.equal(badUser.code, 126);
    assert.match(badUser.stderr, /unable to find user nobody-here/);
  });

  it('pipes stdin with -i', async () => {
    const r = await docker(engine(), ['exec', '-i', id, 'sh', '-c', 'tr a-z A-Z'], { input: 'shout\n' });
    assert.equal(r.stdout, 'SHOUT\n', r.stderr);
  });

  it('gives an interactive terminal with -it', async () => {
    // A script rather than busybox's line editor: its cursor-position query makes typed keys racy under load.
    const script = 'stty size; tty; echo ready; read a b; echo "product=$((a*b))"; exit 2';
    const term = dockerPty(engine(), ['exec', '-it', id, 'sh', '-c', script], { cols: 90, rows: 20 });
    try {
      await term.waitFor(/20 90[\s\S]*\/dev\/pts\/\d+[\s\S]*ready/, 10_000);
      term.write('6 7\r');
      await term.waitFor(/product=42/, 10_000);
      assert.equal(await term.exited, 2);
    } finally {
      term.kill();
    }
  });

  it('refuses exec into a stopped container', async () => {
    const stopped = (await d('create', 'busybox', 'true')).stdout.trim();
    const r = await d('exec', stopped, 'true');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    await d('rm', stopped);
  });
});
