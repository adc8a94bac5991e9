// `npm run bench [-- engine|volumes|network|logs|build|pull|vm|dashboard|long-run]`: Berth's engine against dockerd (where Debian's docker.io is
// installed; this script never installs it), in a network namespace of its own
// so neither daemon touches the machine's network. Results: a table on stdout and
// .test-artifacts/bench*.json.
import { spawn, spawnSync } from 'node:child_process';
import { bootstrap, repoRoot } from './bootstrap.mjs';

await bootstrap();

const BENCHES = {
  engine: 'bench/engine-bench.ts',
  volumes: 'bench/volumes-bench.ts',
  network: 'bench/network-bench.ts',
  build: 'bench/build-bench.ts',
  logs: 'bench/logs-bench.ts',
  vm: 'bench/vm-bench.ts',
  pull: 'bench/pull-bench.ts',
  dashboard: 'bench/dashboard-bench.ts',
  'long-run': 'bench/long-run.ts',
};
const asked = process.argv.slice(2);
for (const name of asked) {
  if (!(name in BENCHES)) {
    console.error(`unknown benchmark "${name}"; choose from: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
// The long run takes an hour: only when asked for by name.
const names = asked.length ? asked : Object.keys(BENCHES).filter((n) => n !== 'long-run');

let ns;
function removeNs() {
  if (ns) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  ns = undefined;
}
process.on('exit', removeNs);

let child;
// Ctrl-C reaches the bench by itself (same process group); pass on a SIGTERM.
let stopping = false;
process.on('SIGINT', () => (stopping = true));
process.on('SIGTERM', () => {
  stopping = true;
  child?.kill('SIGTERM');
});

/** One benchmark in a fresh network namespace, so whatever it leaves behind goes with it. */
async function runOne(file) {
  const name = `berth-bench-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) {
    console.error(`ip netns add ${name} failed: ${add.stderr || add.error?.message}`);
    return 1;
  }
  ns = name;
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
  child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', file], {
    cwd: repoRoot,
    // The bench checks it really runs in this namespace before starting any engine.
    env: { ...process.env, BERTH_BENCH_NETNS: ns },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  child = undefined;
  removeNs();
  return code;
}

let failed = 0;
for (const name of names) {
  if (stopping) break;
  if (names.length > 1) console.log(`\n=== ${name} ===`);
  const code = await runOne(BENCHES[name]);
  if (code !== 0) failed = code;
}
process.exit(stopping && !failed ? 130 : failed);
