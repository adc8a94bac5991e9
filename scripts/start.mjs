// `npm start`: set the machine up, then boot the Berth VM (building its guest
// image first if there is none) and say where its engine listens; Ctrl-C
// stops it. `npm start -- --native` runs the engine natively on this Linux
// host instead, as before the VM:
//
//   BERTH_DATA_ROOT  (default /var/lib/berth)
//   BERTH_EXEC_ROOT  (default /run/berth)
//   BERTH_SOCKET     (default unix://$BERTH_DATA_ROOT/docker.sock)
//   npm start -- --runtime runc --log-level debug   extra flags go to berth-engine
//
// The dashboard comes up beside the engine: the Electron app where there is a
// display and an Electron binary, else the headless dashboard (`berth
// dashboard`, which prints its address). `--no-dashboard` leaves it out.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { bootstrap, repoRoot } from './bootstrap.mjs';

await bootstrap();

const noDashboardFlag = process.argv.indexOf('--no-dashboard');
const wantDashboard = noDashboardFlag < 0 && process.env.npm_config_dashboard !== 'false';
if (noDashboardFlag >= 0) process.argv.splice(noDashboardFlag, 1);
let dashboard;

/** The Electron binary, if this machine has one (npm ci never downloads it here). */
function electronBinary() {
  const r = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return r.status === 0 && r.stdout && existsSync(r.stdout) ? r.stdout : undefined;
}

function hasDisplay() {
  return process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

/** Electron when it can show a window, else the headless dashboard on 127.0.0.1. */
function startDashboard(env) {
  if (!wantDashboard) return;
  const electron = hasDisplay() ? electronBinary() : undefined;
  dashboard = electron
    ? spawn(electron, [repoRoot], { stdio: 'inherit', env })
    : spawn(process.execPath, [join(repoRoot, 'bin', 'berth'), 'dashboard'], { stdio: 'inherit', env });
  if (!electron)
    console.log(
      `(no ${hasDisplay() ? 'Electron binary' : 'display'}: the dashboard runs headless; open the address it prints)`,
    );
  dashboard.on('error', (err) => console.error(`could not start the dashboard: ${err.message}`));
}

function stopDashboard() {
  if (dashboard && dashboard.exitCode === null) dashboard.kill('SIGTERM');
}

// `npm start --native` reaches us as npm's config, `npm start -- --native` as an argument.
const nativeFlag = process.argv.indexOf('--native');
if (nativeFlag < 0 && process.env.npm_config_native !== 'true') {
  // The VM: `berth vm start --foreground` until Ctrl-C (BERTH_HOME, BERTH_ACCEL apply).
  const vm = spawn(process.execPath, [join(repoRoot, 'bin', 'berth'), 'vm', 'start', '--foreground'], {
    stdio: 'inherit',
  });
  // Passed on (a terminal's Ctrl-C reaches it too: it stops the VM once either way).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => vm.kill(sig));
  vm.on('exit', (code, signal) => {
    stopDashboard();
    process.exit(code ?? (signal ? 1 : 0));
  });
  // The VM's engine, whatever DOCKER_HOST this shell has; the dashboard waits for it to answer.
  const { DOCKER_HOST: _ignored, ...vmEnv } = process.env;
  startDashboard(vmEnv);
  vm.on('error', (err) => {
    console.error(`could not start the VM: ${err.message}`);
    process.exit(1);
  });
} else {
  if (nativeFlag >= 0) process.argv.splice(nativeFlag, 1);
  await startNative();
}

async function startNative() {
  const dataRoot = process.env.BERTH_DATA_ROOT || '/var/lib/berth';
  const execRoot = process.env.BERTH_EXEC_ROOT || '/run/berth';
  const socket = (process.env.BERTH_SOCKET || join(dataRoot, 'docker.sock')).replace(/^unix:\/\//, '');
  const host = `unix://${socket}`;

  function ping() {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  if (existsSync(socket) && (await ping())) {
    console.error(`An engine already answers on ${socket}: export DOCKER_HOST=${host}`);
    process.exit(1);
  }
  if (!existsSync(join(repoRoot, 'dist', 'berth-engine.mjs'))) {
    console.error('dist/berth-engine.mjs was not built (is guest-agent/main.ts there?)');
    process.exit(1);
  }
  mkdirSync(dirname(socket), { recursive: true });

  const args = [
    join(repoRoot, 'bin', 'berth-engine'),
    '-H',
    host,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--pidfile',
    join(execRoot, 'berth-engine.pid'),
    ...process.argv.slice(2),
  ];
  // Own process group: a terminal's Ctrl-C reaches npm and this script (npm
  // forwards it too), and the engine treats a second signal as "exit now". So
  // the engine hears signals only from here, once each.
  const engine = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  let exited = false;
  engine.on('exit', (code, signal) => {
    exited = true;
    stopDashboard();
    // Exit as the engine did; a signal death becomes the shell's 128+n convention.
    if (signal) process.exit(128 + ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 1));
    process.exit(code ?? 1);
  });
  engine.on('error', (err) => {
    console.error(`could not start berth-engine: ${err.message}`);
    process.exit(1);
  });
  let lastForward = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (exited) return;
      const now = Date.now();
      if (now - lastForward < 1000) return; // the same Ctrl-C, delivered twice
      lastForward = now;
      engine.kill(sig === 'SIGHUP' ? 'SIGTERM' : sig);
    });
  }

  const deadline = Date.now() + 30_000;
  while (!exited) {
    if (await ping()) {
      console.log(`Berth engine ready: export DOCKER_HOST=${host}`);
      startDashboard({ ...process.env, DOCKER_HOST: host });
      break;
    }
    if (Date.now() > deadline) {
      console.error(`berth-engine has not answered on ${socket} for 30 s; still waiting (Ctrl-C to stop)`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
