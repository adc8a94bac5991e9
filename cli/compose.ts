// `berth compose …`: the command line over the compose library (compose/),
// which does the work; this file parses flags and prints.
import Docker from 'dockerode';
import { ComposeError } from '../compose/errors.js';
import { execInService } from '../compose/exec.js';
import { down } from '../compose/down.js';
import {
  removeServiceContainers,
  restartServices,
  startServices,
  stopServices,
} from '../compose/lifecycle.js';
import { loadProject } from '../compose/load-project.js';
import { showLogs } from '../compose/logs.js';
import type { Project, PullPolicy, Service } from '../compose/model.js';
import { buildService, pullServices } from '../compose/service-images.js';
import { top } from '../compose/top.js';
import { projectContainers } from '../compose/project-containers.js';
import { resolvedConfigYaml } from '../compose/resolved-config.js';
import { runOneOff } from '../compose/run.js';
import { up } from '../compose/up.js';
import { serviceImages } from '../compose/images.js';
import { imagesTable, psTable, topText } from './compose-tables.js';
import { engineSocket } from './engine-endpoint.js';
import { parseFlags, UsageError, type FlagSpec } from './flag-parser.js';

const USAGE = `Usage: berth compose [OPTIONS] COMMAND

Options:
  -f, --file FILE            Compose file (repeat to merge several)
  -p, --project-name NAME    Project name (default: the project directory's name)
      --env-file FILE        Variables for interpolation instead of the project's .env
      --project-directory D  Project directory (default: the first file's folder)
      --profile NAME         Enable a profile (repeatable)
      --ansi never|always|auto  Colour in the output

Commands:
  up        Create and start the services' containers (-d, --build, --force-recreate, --no-deps,
            --scale SVC=N, --wait: until running, and healthy where there is a healthcheck,
            --wait-timeout SECONDS, --pull always|missing|never|build, --no-build: never build)
  down      Stop and remove containers and networks (-v: named volumes too, --rmi all|local: images)
  build     Build the services' images (--build-arg K=V, --no-cache, --pull)
  pull      Pull the services' images
  ps        List containers (-a, -q, --services)
  images    List the images the service containers use (-q: only ids, --format table|json)
  logs      Show output (-f, --tail N, -t, --no-color)
  config    Print the resolved compose file (-q: only check it)
  start | stop | restart   Start, stop or restart services' containers (-t SECONDS)
  rm        Remove stopped service containers (-f, -s, -v)
  exec      Run a command in a running service container (-T, -e, -u, -w, --index, -d)
  run       Run a one-off command in a new service container (--rm, -e, -T, -d, --no-deps, --entrypoint, --name,
            --build)
  top       Show the processes of the running service containers
`;

const GLOBAL: Record<string, FlagSpec> = {
  file: { short: 'f', value: true, multiple: true },
  'project-name': { short: 'p', value: true },
  'env-file': { value: true },
  'project-directory': { value: true },
  profile: { value: true, multiple: true },
  ansi: { value: true },
  help: { short: 'h' },
};

const COMMANDS: Record<string, Record<string, FlagSpec>> = {
  up: {
    detach: { short: 'd' },
    'force-recreate': {},
    'no-deps': {},
    scale: { value: true, multiple: true },
    'no-color': {},
    timeout: { short: 't', value: true },
    'remove-orphans': {},
    build: {},
    'no-build': {},
    pull: { value: true },
    wait: {},
    'wait-timeout': { value: true },
  },
  down: {
    volumes: { short: 'v' },
    timeout: { short: 't', value: true },
    'remove-orphans': {},
    rmi: { value: true },
  },
  build: { 'no-cache': {}, pull: {}, 'build-arg': { value: true, multiple: true } },
  pull: {},
  top: {},
  images: { quiet: { short: 'q' }, format: { value: true } },
  ps: { all: { short: 'a' }, quiet: { short: 'q' }, services: {} },
  logs: {
    follow: { short: 'f' },
    tail: { short: 'n', value: true },
    timestamps: { short: 't' },
    'no-color': {},
  },
  config: { quiet: { short: 'q' }, services: {}, volumes: {} },
  start: {},
  stop: { timeout: { short: 't', value: true } },
  restart: { timeout: { short: 't', value: true } },
  rm: { force: { short: 'f' }, stop: { short: 's' }, volumes: { short: 'v' } },
  exec: {
    detach: { short: 'd' },
    'no-TTY': { short: 'T' },
    interactive: { short: 'i' },
    tty: { short: 't' },
    env: { short: 'e', value: true, multiple: true },
    user: { short: 'u', value: true },
    workdir: { short: 'w', value: true },
    index: { value: true },
    privileged: {},
  },
  run: {
    detach: { short: 'd' },
    rm: {},
    'no-TTY': { short: 'T' },
    interactive: { short: 'i' },
    tty: { short: 't' },
    env: { short: 'e', value: true, multiple: true },
    user: { short: 'u', value: true },
    workdir: { short: 'w', value: true },
    entrypoint: { value: true },
    name: { value: true },
    'no-deps': {},
    'service-ports': {},
    build: {},
  },
};

const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
const progress = (line: string) => process.stderr.write(` ✔ ${line}\n`);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const seconds = (v: unknown, flag = '--timeout'): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`${flag}: "${String(v)}" is not a number of seconds`);
  return n;
};

export async function composeCommand(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`berth compose: ${err.message}\n\n${USAGE}`);
      return 1;
    }
    if (err instanceof ComposeError) {
      process.stderr.write(`berth compose: ${err.message}\n`);
      return 1;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      process.stderr.write(
        `berth compose: no engine answers on ${engineSocket()}: start it with \`npm start\` or set DOCKER_HOST\n`,
      );
      return 1;
    }
    const e = err as { json?: { message?: string }; message?: string };
    process.stderr.write(`berth compose: ${e.json?.message ?? e.message ?? String(err)}\n`);
    return 1;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const global = parseFlags(argv, GLOBAL, true);
  const [command, ...rest] = global.positionals;
  if (global.flags.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !global.flags.help ? 1 : 0;
  }
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"`);
  const takesCommand = command === 'exec' || command === 'run';
  const { flags, positionals } = parseFlags(rest, spec, takesCommand);

  const env = { ...process.env };
  const profiles = list(global.flags.profile);
  if (profiles.length) env.COMPOSE_PROFILES = profiles.join(',');
  const project = loadProject({
    files: list(global.flags.file),
    projectName: str(global.flags['project-name']),
    envFile: str(global.flags['env-file']),
    projectDir: str(global.flags['project-directory']),
    env,
  });
  for (const w of project.warnings) process.stderr.write(`warning: ${w}\n`);
  const ansi = str(global.flags.ansi) ?? 'auto';
  if (!['never', 'always', 'auto'].includes(ansi))
    throw new UsageError(`--ansi: "${ansi}" is not never, always or auto`);
  const color =
    !flags['no-color'] &&
    (ansi === 'always' || (ansi === 'auto' && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR));

  if (command === 'config') return config(project, flags);
  const docker = new Docker({ socketPath: engineSocket() });
  const stdinTty = Boolean(process.stdin.isTTY);

  switch (command) {
    case 'up': {
      const scale: Record<string, number> = {};
      for (const s of list(flags.scale)) {
        const m = /^([^=]+)=(\d+)$/.exec(s);
        if (!m) throw new UsageError(`--scale: "${s}" is not SERVICE=NUMBER`);
        scale[m[1]] = Number(m[2]);
      }
      if (flags.build && flags['no-build']) throw new UsageError('--build and --no-build are incompatible');
      const upStarted = Math.floor(Date.now() / 1000);
      const containers = await up(docker, project, {
        services: positionals,
        forceRecreate: Boolean(flags['force-recreate']),
        noDeps: Boolean(flags['no-deps']),
        scale,
        removeOrphans: Boolean(flags['remove-orphans']),
        build: Boolean(flags.build),
        noBuild: Boolean(flags['no-build']),
        pull: pullPolicy(flags.pull),
        wait: Boolean(flags.wait) || flags['wait-timeout'] !== undefined,
        waitTimeout:
          flags['wait-timeout'] === undefined ? undefined : seconds(flags['wait-timeout'], '--wait-timeout'),
        progress,
        buildOutput: (t) => process.stderr.write(t),
      });
      if (flags.detach || flags.wait || flags['wait-timeout'] !== undefined) return 0;
      return attachAndWait(docker, project, containers, upStarted, color, seconds(flags.timeout));
    }
    case 'down': {
      const rmi = str(flags.rmi);
      if (rmi !== undefined && rmi !== 'all' && rmi !== 'local')
        throw new UsageError(`--rmi: "${rmi}" is not all or local`);
      await down(docker, project, {
        volumes: Boolean(flags.volumes),
        rmi,
        timeout: seconds(flags.timeout),
        progress,
      });
      return 0;
    }
    case 'build': {
      const services = selectServices(project, positionals).filter((s) => s.build);
      // --build-arg KEY=VALUE, or KEY alone for the shell's value (left out when unset).
      const args: Record<string, string> = {};
      for (const a of list(flags['build-arg'])) {
        const eq = a.indexOf('=');
        const value = eq < 0 ? process.env[a] : a.slice(eq + 1);
        if (value !== undefined) args[eq < 0 ? a : a.slice(0, eq)] = value;
      }
      for (const s of services) {
        await buildService(docker, project, s, {
          args,
          noCache: Boolean(flags['no-cache']),
          pull: Boolean(flags.pull),
          progress,
          output: (t) => process.stdout.write(t),
        });
      }
      return 0;
    }
    case 'pull':
      await pullServices(docker, selectServices(project, positionals), progress);
      return 0;
    case 'top':
      process.stdout.write(topText(await top(docker, project, positionals)));
      return 0;
    case 'images': {
      for (const n of positionals) if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
      const images = await serviceImages(docker, project.name, positionals);
      const format = str(flags.format) ?? 'table';
      if (flags.quiet)
        process.stdout.write([...new Set(images.map((i) => i.id))].map((id) => `${id}\n`).join(''));
      else if (format === 'json')
        process.stdout.write(
          `${JSON.stringify(
            images.map((i) => ({
              ID: i.id,
              ContainerName: i.container,
              Repository: i.repository,
              Tag: i.tag,
              Size: i.size,
            })),
          )}\n`,
        );
      else if (format === 'table') process.stdout.write(imagesTable(images));
      else throw new UsageError(`--format: "${format}" is not table or json`);
      return 0;
    }
    case 'ps': {
      const containers = await projectContainers(docker, project.name, {
        services: positionals,
        oneoff: false,
        all: Boolean(flags.all),
      });
      if (flags.services)
        process.stdout.write([...new Set(containers.map((c) => c.service))].map((s) => `${s}\n`).join(''));
      else if (flags.quiet) process.stdout.write(containers.map((c) => `${c.id}\n`).join(''));
      else process.stdout.write(psTable(containers));
      return 0;
    }
    case 'logs': {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      await showLogs(docker, project, {
        services: positionals,
        follow: Boolean(flags.follow),
        tail: str(flags.tail),
        timestamps: Boolean(flags.timestamps),
        color,
        write: (t) => process.stdout.write(t),
        signal: abort.signal,
      });
      return 0;
    }
    case 'start':
      await startServices(docker, project, { services: positionals, progress });
      return 0;
    case 'stop':
      await stopServices(docker, project, {
        services: positionals,
        timeout: seconds(flags.timeout),
        progress,
      });
      return 0;
    case 'restart':
      await restartServices(docker, project, {
        services: positionals,
        timeout: seconds(flags.timeout),
        progress,
      });
      return 0;
    case 'rm': {
      const removed = await removeServiceContainers(docker, project, {
        services: positionals,
        stop: Boolean(flags.stop),
        volumes: Boolean(flags.volumes),
        progress,
      });
      if (removed.length === 0) process.stderr.write('No stopped containers\n');
      return 0;
    }
    case 'exec': {
      const [service, ...cmd] = positionals;
      if (!service || cmd.length === 0) throw new UsageError('exec needs a SERVICE and a COMMAND');
      const tty = flags['no-TTY'] ? false : stdinTty;
      return execInService(docker, project, {
        service,
        command: cmd,
        index: flags.index === undefined ? undefined : Number(flags.index),
        tty,
        interactive: flags.interactive !== false,
        detach: Boolean(flags.detach),
        env: list(flags.env),
        user: str(flags.user),
        workdir: str(flags.workdir),
        privileged: Boolean(flags.privileged),
        io,
      });
    }
    case 'run': {
      const [service, ...cmd] = positionals;
      if (!service) throw new UsageError('run needs a SERVICE');
      const entrypoint = str(flags.entrypoint);
      return runOneOff(docker, project, {
        service,
        command: cmd,
        env: list(flags.env),
        rm: Boolean(flags.rm),
        detach: Boolean(flags.detach),
        tty: flags['no-TTY'] ? false : stdinTty,
        // As docker compose run: stdin attached unless detached (-i is the default).
        interactive: !flags.detach && flags.interactive !== false,
        noDeps: Boolean(flags['no-deps']),
        name: str(flags.name),
        user: str(flags.user),
        workdir: str(flags.workdir),
        entrypoint: entrypoint === undefined ? undefined : [entrypoint],
        servicePorts: Boolean(flags['service-ports']),
        build: Boolean(flags.build),
        shellEnv: process.env,
        io,
        progress,
      });
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function pullPolicy(v: unknown): PullPolicy | undefined {
  const policy = str(v);
  if (policy === undefined) return undefined;
  if (!['always', 'missing', 'never', 'build'].includes(policy))
    throw new UsageError(`--pull: "${policy}" is not always, missing, never or build`);
  return policy as PullPolicy;
}

/** The named services (all without names), refusing a name the project does not have. */
function selectServices(project: Project, names: string[]): Service[] {
  for (const n of names) if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
  return Object.values(project.services)
    .filter((s) => names.length === 0 || names.includes(s.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function config(project: Project, flags: Record<string, unknown>): number {
  if (flags.quiet) return 0;
  if (flags.services)
    process.stdout.write(
      Object.keys(project.services)
        .sort()
        .map((s) => `${s}\n`)
        .join(''),
    );
  else if (flags.volumes)
    process.stdout.write(
      Object.keys(project.volumes)
        .sort()
        .map((s) => `${s}\n`)
        .join(''),
    );
  else process.stdout.write(resolvedConfigYaml(project));
  return 0;
}

/** `up` without -d: the containers' output until they all exit, or Ctrl-C (which stops them). */
async function attachAndWait(
  docker: Docker,
  project: Project,
  containers: Awaited<ReturnType<typeof projectContainers>>,
  since: number,
  color: boolean,
  timeout: number | undefined,
): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    process.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
    process.once('SIGINT', () => process.exit(130));
    abort.abort();
  });
  // A service with attach: false runs, but its output stays out of up's (as with Compose's --no-attach).
  const attached = containers.filter((c) => project.services[c.service]?.attach !== false);
  await showLogs(docker, project, {
    containers: attached,
    follow: true,
    // What the containers printed since up began: a fresh container's first lines come before the attach.
    since,
    color,
    write: (t) => process.stdout.write(t),
    signal: abort.signal,
  });
  if (interrupted) {
    await stopServices(docker, project, {
      services: [...new Set(containers.map((c) => c.service))],
      timeout,
      progress,
    });
    return 130;
  }
  for (const c of attached) {
    const info = await docker
      .getContainer(c.id)
      .inspect()
      .catch(() => undefined);
    if (info && !info.State.Running)
      process.stdout.write(`${c.name} exited with code ${info.State.ExitCode}\n`);
  }
  return 0;
}
