// Pull, push, load and build progress through berth's own output, in a real
// terminal (bars rewritten in place, as the docker CLI draws them) and off one
// (a line per status, no bars), each beside what the docker CLI shows for the
// same operation against the same engine and a registry on loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berth, berthPty } from '../helpers/berth.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';
import { recordForSweep } from '../helpers/leftovers.js';
import { dockerPty, stripAnsi } from '../helpers/pty.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// Wide enough for docker's bars (it draws them past 110 columns).
const COLS = 200;

async function inTerminal(
  cli: 'docker' | 'berth',
  engine: { host: string },
  args: string[],
): Promise<{ raw: string; text: string; code: number }> {
  const term =
    cli === 'docker'
      ? dockerPty(engine, args, { cols: COLS, rows: 50 })
      : berthPty(engine, args, { cols: COLS, rows: 50 });
  const code = await term.exited;
  return { raw: term.output(), text: stripAnsi(term.output()), code };
}

describe('progress of pull, push, load and build through the CLI', () => {
  const engine = useEngineWithBusybox();
  let registry: TestRegistry;
  let work: string;
  before(async () => {
    registry = await startRegistry();
    work = mkdtempSync(path.join(tmpdir(), 'berth-progress-'));
    recordForSweep(work);
  });
  after(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** A bar as docker draws it: [====>    ] 1.2MB/2.1MB. */
  const BAR = /\[=*>\s*\] +[\d.]+k?M?B\/[\d.]+[kM]?B/;
  /** A line rewritten in place: the cursor goes up to it. */
  const REWRITE = /\x1b\[\d+A/;

  for (const cli of ['docker', 'berth'] as const) {
    it(`${cli}: push, load and pull draw bars in a terminal; build prints its steps`, async () => {
      const ref = `${registry.host}/progress/${cli}:1`;
      // An image with a layer of its own (random, so that no other push has it).
      writeFileSync(
        path.join(work, 'Dockerfile'),
        'FROM busybox\nRUN head -c 3000000 /dev/urandom > /blob\n',
      );
      const build = await inTerminal(cli, engine(), ['build', '--no-cache', '-t', ref, work]);
      assert.equal(build.code, 0, build.text);
      assert.match(build.text, /^Step 1\/2 : FROM busybox$/m);
      assert.match(build.text, /^Successfully tagged .*progress\/\w+:1$/m);

      const push = await inTerminal(cli, engine(), ['push', ref]);
      assert.equal(push.code, 0, push.text);
      assert.match(push.raw, new RegExp(`[0-9a-f]{12}: Pushing ${BAR.source}`));
      assert.match(push.raw, REWRITE);
      assert.match(push.text, /[0-9a-f]{12}: Pushed/);
      assert.match(push.text, /1: digest: sha256:[0-9a-f]{64} size: \d+/);

      const tar = path.join(work, `${cli}.tar`);
      assert.equal((await docker(engine(), ['save', '-o', tar, ref])).code, 0);
      assert.equal((await docker(engine(), ['rmi', ref])).code, 0);
      const load = await inTerminal(cli, engine(), ['load', '-i', tar]);
      assert.equal(load.code, 0, load.text);
      assert.match(load.raw, new RegExp(`Loading layer ${BAR.source}`));
      assert.match(load.text, new RegExp(`Loaded image: ${ref.replace(/[.]/g, '\\.')}`));

      assert.equal((await docker(engine(), ['rmi', ref])).code, 0);
      const pull = await inTerminal(cli, engine(), ['pull', ref]);
      assert.equal(pull.code, 0, pull.text);
      assert.match(pull.raw, new RegExp(`[0-9a-f]{12}: Downloading ${BAR.source}`));
      assert.match(pull.raw, REWRITE);
      assert.match(pull.text, /[0-9a-f]{12}: Pull complete/);
      assert.match(pull.text, /[0-9a-f]{12}: Already exists/);
      assert.match(pull.text, new RegExp(`Status: Downloaded newer image for ${ref.replace(/[.]/g, '\\.')}`));
    });
  }

  it('berth off a terminal: a line per status, no bars', async () => {
    const ref = `${registry.host}/progress/berth:1`;
    await docker(engine(), ['rmi', ref]);
    const pull = await berth(engine(), ['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.doesNotMatch(pull.stdout, /\[=*>/);
    assert.doesNotMatch(pull.stdout, /\x1b/);
    assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
  });
});
