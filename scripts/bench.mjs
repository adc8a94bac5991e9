// `npm run bench`: Berth's engine against dockerd (where Debian's docker.io is
// installed; this script never installs it), in a network namespace of its own
// so neither daemon touches the machine's network. Results: a table on stdout and
// .test-artifacts/bench.json.
import { spawn, spawnSync } from 'node:child_process';
import { bootstrap, repoRoot } from './bootstrap.mjs';

await bootstrap();

const ns = `berth-bench-${process.pid}`;
let created = false;
function removeNs() {
  if (created) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  created = false;
}
process.on('exit', removeNs);

const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
if (add.status !== 0) {
  console.error(`ip netns add ${ns} failed: ${add.stderr || add.error?.message}`);
  process.exit(1);
}
created = true;
spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });

const child = spawn(
  'nsenter',
  [
    `--net=/run/netns/${ns}`,
    '--',
    process.execPath,
    '--import',
    'tsx',
    'bench/engine-bench.ts',
    ...process.argv.slice(2),
  ],
  { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] },
);
// Ctrl-C reaches the bench by itself (same process group); pass on a SIGTERM.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
removeNs();
process.exit(code);
