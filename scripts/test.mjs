// `npm test`: set the machine up, build the fixture images, typecheck, lint, then
// run the whole suite inside a network namespace of its own (so bridges, veths and
// iptables rules never touch the machine's network). Ends with one line,
// "N passed, N failed[, N skipped]", and exits 1 if anything failed or nothing ran.
//
//   npm test                       everything
//   npm test -- test/unit/logs     only test files under (or named by) these paths;
//                                  typecheck and lint are left out of such a run
//   npm test -- --test-name-pattern=restart   extra flags go to node's test runner
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bootstrap, checkNodeVersion, repoRoot } from './bootstrap.mjs';

checkNodeVersion();

const artifacts = join(repoRoot, '.test-artifacts');
const tapFile = join(artifacts, `results-${process.pid}.tap`); // per run: concurrent runs must not mix counts
const TEST_ROOT = 'test';
/** A test that runs longer than this fails instead of hanging CI. */
const TEST_TIMEOUT_MS = 10 * 60 * 1000;

const checks = []; // { name, ok }

function line(s = '') {
  process.stdout.write(s + '\n');
}

function finish(passed, failed, skipped) {
  let summary = `${passed} passed, ${failed} failed`;
  if (skipped > 0) summary += `, ${skipped} skipped`;
  line(summary);
  process.exit(failed > 0 || passed + failed === 0 || interrupted ? 1 : 0);
}

function checksSummary() {
  return { passed: checks.filter((c) => c.ok).length, failed: checks.filter((c) => !c.ok).length };
}

/** Runs one check (a command); prints its output only when it fails. */
function check(name, cmd, args) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const ok = !r.error && r.status === 0;
  checks.push({ name, ok });
  if (ok) {
    line(`✔ ${name} (${secs} s)`);
  } else {
    line(`✖ ${name} failed (${secs} s):`);
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trimEnd();
    const lines = out.split('\n');
    line(lines.slice(0, 200).join('\n'));
    if (lines.length > 200) line(`… ${lines.length - 200} more lines`);
  }
}

function findTests(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** Test files named by the filters: a file, a folder, or a path prefix ("test/unit/log"). */
function selectTests(filters) {
  const all = findTests(join(repoRoot, TEST_ROOT));
  if (filters.length === 0) return all;
  const chosen = new Set();
  for (const f of filters) {
    const abs = resolve(process.cwd(), f);
    if (existsSync(abs) && statSync(abs).isFile()) {
      chosen.add(abs);
      continue;
    }
    const matches = all.filter(
      (t) => t === abs || t.startsWith(abs.endsWith('/') ? abs : abs + '/') || t.startsWith(abs),
    );
    if (matches.length === 0) line(`no test files match ${f}`);
    for (const m of matches) chosen.add(m);
  }
  return [...chosen].sort();
}

/** Counts from the summary comments node's TAP reporter ends with. */
function tapCounts(file) {
  const counts = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0, found: false };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const m of text.matchAll(/^# (pass|fail|skipped|todo|cancelled) (\d+)$/gm)) {
    counts[m[1]] = Number(m[2]);
    counts.found = true;
  }
  return counts;
}

const leftoversFile = join(artifacts, `leftovers-${process.pid}.txt`);

/**
 * Removes the temp dirs (engines, docker configs) that tests recorded and did
 * not remove; after a run that was not interrupted, such a leak fails a check.
 */
function sweepLeftovers() {
  if (!existsSync(leftoversFile)) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/sweep-main.ts', leftoversFile], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  rmSync(leftoversFile, { force: true });
  const left = (r.stdout ?? '').split('\n').filter(Boolean);
  if (r.status !== 0) line(`could not sweep leftovers: ${r.stderr}`);
  if (interrupted) return;
  checks.push({ name: 'no leftovers', ok: left.length === 0 && r.status === 0 });
  if (left.length > 0) line(`✖ tests left these behind (now removed): ${left.join(' ')}`);
}

const nsName = `berth-test-${process.pid}`;
let nsCreated = false;
let runner; // the node test runner while it runs
let interrupted = false;

function deleteNetns() {
  if (!nsCreated) return;
  nsCreated = false;
  spawnSync('ip', ['netns', 'delete', nsName], { stdio: 'ignore' });
}

function createNetns() {
  const add = spawnSync('ip', ['netns', 'add', nsName], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${nsName}: ${add.stderr || add.error?.message}`);
  nsCreated = true;
  const lo = spawnSync('ip', ['-n', nsName, 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (lo.status !== 0) throw new Error(`ip -n ${nsName} link set lo up: ${lo.stderr || lo.error?.message}`);
}

async function main() {
  const args = process.argv.slice(2);
  const nodeFlags = args.filter((a) => a.startsWith('--'));
  const filters = args.filter((a) => !a.startsWith('--'));
  const filtered = filters.length > 0;

  try {
    await bootstrap();
  } catch (err) {
    line(`✖ setup failed: ${err instanceof Error ? err.message : String(err)}`);
    finish(0, 1, 0);
  }
  mkdirSync(artifacts, { recursive: true });

  // The Debian fixture downloads packages: it must be built before the netns.
  const fixtures = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/prepare.ts'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  checks.push({ name: 'fixture images', ok: fixtures.status === 0 });
  line(fixtures.status === 0 ? '✔ fixture images' : '✖ fixture images could not be built (see above)');

  if (filtered) {
    line('(typecheck and lint left out: only some test files were asked for)');
  } else {
    check('typecheck (tsc --noEmit)', process.execPath, [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      '.',
      '--noEmit',
    ]);
    check('typecheck the dashboard (tsc -p renderer)', process.execPath, [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      'renderer',
    ]);
    check('lint (eslint .)', process.execPath, [join(repoRoot, 'node_modules/eslint/bin/eslint.js'), '.']);
  }

  const files = selectTests(filters);
  if (files.length === 0) {
    line('no test files to run');
    const c = checksSummary();
    finish(c.passed, c.failed, 0);
  }

  rmSync(tapFile, { force: true }); // never count a previous run's results
  writeFileSync(leftoversFile, '');
  try {
    createNetns();
  } catch (err) {
    deleteNetns();
    line(`✖ could not make the test network namespace: ${err instanceof Error ? err.message : String(err)}`);
    const c = checksSummary();
    finish(c.passed, c.failed + 1, 0);
  }
  const nodeArgs = [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...nodeFlags,
    ...files.map((f) => relative(repoRoot, f)),
  ];
  line(`running ${files.length} test file(s) in network namespace ${nsName}`);
  const code = await new Promise((resolveCode) => {
    const child = (runner = spawn(
      'nsenter',
      [`--net=/run/netns/${nsName}`, '--', process.execPath, ...nodeArgs],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: {
          ...process.env,
          BERTH_TEST_NETNS: nsName,
          BERTH_TEST_LEFTOVERS: leftoversFile,
          // The engines' crun verdict is kept with the other fixtures, not in the host's /run.
          BERTH_CRUN_PROBE_CACHE: join(artifacts, 'crun-probe.json'),
        },
      },
    ));
    child.on('error', (err) => {
      line(`could not start the test runner: ${err.message}`);
      resolveCode(1);
    });
    child.on('exit', (c, sig) => resolveCode(c ?? (sig ? 1 : 0)));
  });
  runner = undefined;
  sweepLeftovers();
  deleteNetns();
  if (interrupted) line('interrupted: the counts below are of the tests that ran');

  const t = tapCounts(tapFile);
  // The newest run's report keeps the well-known name, for CI and people to read.
  try {
    renameSync(tapFile, join(artifacts, 'results.tap'));
  } catch {
    // no report written
  }
  const c = checksSummary();
  let failed = c.failed + t.fail + t.cancelled;
  // A runner that died without writing its summary must not look like success.
  if (code !== 0 && t.fail + t.cancelled === 0) {
    line(`the test runner exited with code ${code}${t.found ? '' : ' without a summary'}`);
    failed += 1;
  }
  finish(c.passed + t.pass, failed, t.skipped + t.todo);
}

// On Ctrl-C (or SIGTERM) stop the test runner, let it and its tests clean up,
// then remove the netns and print the counts so far.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (runner && runner.exitCode === null && !interrupted) {
      interrupted = true;
      line(`\n${sig}: stopping the tests`);
      runner.kill(sig);
      return;
    }
    deleteNetns();
    process.exit(130);
  });
}
process.on('exit', deleteNetns);

await main();
