// `docker cp` against a container that fights back (the CVE-2018-15664 class):
// while the copies run, the container swaps a directory on the copy's path for
// a symlink to "/" in a tight loop. Whichever way each race falls, the engine
// must resolve the path inside the container: a host canary next to the same
// path on the host is never read, listed or written. The canary lives on a
// tmpfs mounted strictatime, so even a read or a listing of it would show.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { recordFigures } from './figures.js';

const SECRET = `host-canary-${Math.random().toString(36).slice(2)}`;
const ROUNDS = 120;

/** Times only: stat reads neither the file nor the directory, so it changes no atime. */
async function canaryTimes(dir: string) {
  const file = await fs.stat(path.join(dir, 'secret'), { bigint: true });
  const d = await fs.stat(dir, { bigint: true });
  return { fileAtime: file.atimeNs, fileMtime: file.mtimeNs, dirAtime: d.atimeNs, dirMtime: d.mtimeNs };
}

describe('docker cp with a symlink swapped in a tight loop', () => {
  const engine = useEngineWithBusybox();
  let tmp = '';
  let canary = '';
  let outputs = 0;
  let ins = 0;
  let hostTouched = -1; // until measured
  let raced = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cp-race-'));
    canary = path.join(tmp, 'host');
    await fs.mkdir(canary);
    await run('mount', ['-t', 'tmpfs', '-o', 'strictatime,size=1m', 'berth-cp-canary', canary]);
    await fs.writeFile(path.join(canary, 'secret'), SECRET);
  });
  after(async () => {
    await run('umount', [canary], { allowFailure: true });
    await fs.rm(tmp, { recursive: true, force: true });
    await recordFigures('cp-symlink-race', {
      copiesOut: outputs,
      copiesIn: ins,
      racedThroughSymlink: raced,
      hostReadsOrWrites: hostTouched,
    });
  });

  it('never reads, lists or writes the host path the symlink points to', async (t) => {
    const e = engine();
    // Inside the container the canary's path exists too, with its own content, under
    // the swapped directory and under its root: following the symlink in the
    // container is legitimate and reaches one of these.
    const setup = [
      `mkdir -p /w/dir${canary} ${canary}`,
      `echo inside-dir > /w/dir${canary}/secret`,
      `echo inside-root > ${canary}/secret`,
      `cp /w/dir${canary}/secret /w/dir${canary}/probe`,
      `cp ${canary}/secret ${canary}/probe`,
      // mv keeps the real directory's inode; ln puts a symlink to / in its place, and back.
      'while :; do mv /w/dir /w/real; ln -s / /w/dir; rm /w/dir; mv /w/real /w/dir; done',
    ].join(' && ');
    const r = await docker(e, ['run', '-d', '--cpus', '0.5', 'busybox', 'sh', '-c', setup]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    t.after(() => docker(e, ['rm', '-f', id]));

    const start = await canaryTimes(canary);
    const payload = path.join(tmp, 'dropped');
    await fs.writeFile(payload, 'from-the-host');

    const found = new Map<string, number>();
    for (let i = 0; i < ROUNDS; i++) {
      // Out: a file (never written by this test) and a whole directory, both through the swapped component.
      const file = await docker(e, ['cp', `${id}:/w/dir${canary}/probe`, '-']);
      outputs++;
      assert.doesNotMatch(file.stdout, new RegExp(SECRET), `round ${i}: cp out read the host canary`);
      if (file.code === 0) {
        const what = /inside-(dir|root)/.exec(file.stdout)?.[0] ?? file.stdout;
        found.set(what, (found.get(what) ?? 0) + 1);
      }
      const dir = await docker(e, ['cp', `${id}:/w/dir${canary}`, '-']);
      outputs++;
      assert.doesNotMatch(
        dir.stdout,
        new RegExp(SECRET),
        `round ${i}: cp out of a directory read the host canary`,
      );
      // In: a new file into the canary's path, and a file over the canary file's own path.
      await docker(e, ['cp', payload, `${id}:/w/dir${canary}/`]);
      await docker(e, ['cp', payload, `${id}:/w/dir${canary}/secret`]);
      ins += 2;
    }
    t.diagnostic(`copies out found: ${JSON.stringify(Object.fromEntries(found))}`);
    raced = found.get('inside-root') ?? 0;
    for (const s of found.keys()) assert.match(s, /^inside-(dir|root)$/, 'what a copy out returned');
    // The copies did race the swap: some went through the symlink and landed in
    // the container's own root, which is where the kernel would have taken them.
    const root = await docker(e, [
      'exec',
      id,
      'sh',
      '-c',
      `cat ${canary}/dropped ${canary}/secret 2>/dev/null`,
    ]);
    t.diagnostic(`the container root's copy of the canary path holds: ${JSON.stringify(root.stdout)}`);
    assert.ok(
      (found.get('inside-root') ?? 0) > 0 || /from-the-host/.test(root.stdout),
      'no copy went through the swapped symlink: the race was not exercised',
    );
    assert.ok(
      (found.get('inside-dir') ?? 0) > 0,
      'no copy found the real directory: the loop stopped swapping',
    );

    const end = await canaryTimes(canary);
    hostTouched = (['fileMtime', 'dirMtime', 'fileAtime', 'dirAtime'] as const).filter(
      (k) => end[k] !== start[k],
    ).length;
    assert.equal(end.fileMtime, start.fileMtime, 'the host canary was written');
    assert.equal(end.dirMtime, start.dirMtime, 'the host canary directory was written');
    assert.equal(end.fileAtime, start.fileAtime, 'the host canary was read');
    assert.equal(end.dirAtime, start.dirAtime, 'the host canary directory was listed');
    assert.deepEqual(await fs.readdir(canary), ['secret']);
    assert.equal(await fs.readFile(path.join(canary, 'secret'), 'utf8'), SECRET);

    // The container's loop really ran all along.
    const alive = await docker(e, ['inspect', '-f', '{{.State.Running}}', id]);
    assert.equal(alive.stdout.trim(), 'true');
  });
});
