// The docker-compatible half of `berth`: global flags (-H/--host,
// -c/--context, --config), then one command, with the docker CLI's exit codes
// (125 for a flag or usage error, 1 for a daemon error, else the command's).
import Docker from 'dockerode';
import { describeError, type CommandContext, type CommandHandler } from './command-context.js';
import { dockerClient, resolveEndpoint, type Endpoint } from './engine-endpoint.js';
import { parseFlags, UsageError } from './flag-parser.js';
import { containerCommands, containerManagement } from './commands/containers.js';
import { runCommands } from './commands/run.js';
import { imageCommands } from './commands/images.js';
import { inspect } from './commands/inspect.js';
import { systemCommands } from './commands/system.js';
import { contextCommand } from './commands/context.js';
import { explain } from './commands/explain.js';
import { volume } from './commands/volumes.js';
import { network } from './commands/networks.js';
import { stats } from './commands/stats.js';
import { cp } from './commands/cp.js';
import { dialStdio } from './commands/dial-stdio.js';

const COMMANDS: Record<string, CommandHandler> = {
  ...containerCommands,
  ...runCommands,
  ...imageCommands,
  ...systemCommands,
  inspect,
  context: contextCommand,
  explain,
  volume,
  network,
  stats,
  cp,
  'dial-stdio': dialStdio,
};

/** Management commands (docker container ls, docker image rm, …) mapped onto the top-level ones. */
const MANAGEMENT: Record<string, Record<string, string>> = {
  container: { ls: 'ps', list: 'ps', inspect: 'inspect' },
  image: { ls: 'images', list: 'images', rm: 'rmi', inspect: 'inspect' },
  system: { info: 'info', events: 'events', 'dial-stdio': 'dial-stdio' },
  builder: { build: 'build' },
};

export function isDockerCommand(name: string): boolean {
  return name in COMMANDS || name in MANAGEMENT;
}

export async function dockerMain(argv: string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      host: { short: 'H', value: true },
      context: { short: 'c', value: true },
      config: { value: true },
      debug: { short: 'D' },
      'log-level': { short: 'l', value: true },
      tls: {},
      tlsverify: {},
      tlscacert: { value: true },
      tlscert: { value: true },
      tlskey: { value: true },
    },
    true,
  );
  const flag = (name: string) => {
    const v = parsed.flags[name];
    return typeof v === 'string' ? v : undefined;
  };
  const bool = (name: string) =>
    typeof parsed.flags[name] === 'boolean' ? (parsed.flags[name] as boolean) : undefined;
  const [command, ...rest] = parsed.positionals;
  const env = { ...process.env };
  if (typeof parsed.flags.config === 'string') env.DOCKER_CONFIG = parsed.flags.config;
  let endpoint: Endpoint;
  try {
    endpoint = resolveEndpoint(
      {
        host: typeof parsed.flags.host === 'string' ? parsed.flags.host : undefined,
        context: typeof parsed.flags.context === 'string' ? parsed.flags.context : undefined,
        tls: {
          tls: bool('tls'),
          tlsverify: bool('tlsverify'),
          tlscacert: flag('tlscacert'),
          tlscert: flag('tlscert'),
          tlskey: flag('tlskey'),
        },
      },
      env,
    );
  } catch (err) {
    process.stderr.write(`berth: ${(err as Error).message}\n`);
    return 1;
  }
  const ctx: CommandContext = {
    docker: dockerClient(endpoint) as Docker,
    endpoint,
    io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    env,
  };
  let handler: CommandHandler | undefined = COMMANDS[command];
  let args = rest;
  let shown = command;
  if (command in MANAGEMENT) {
    const [sub, ...subRest] = rest;
    const target = MANAGEMENT[command][sub] ?? sub;
    if (command === 'container' && sub !== undefined && !(sub in MANAGEMENT.container))
      return run(ctx, (c, a) => containerManagement(c, a, runCommands), rest, `container ${sub}`);
    handler = target === undefined ? undefined : COMMANDS[target];
    if (command === 'image' && sub === 'inspect') args = ['--type', 'image', ...subRest];
    else if (command === 'container' && sub === 'inspect') args = ['--type', 'container', ...subRest];
    else args = subRest;
    shown = `${command} ${sub ?? ''}`;
  }
  if (!handler) {
    process.stderr.write(
      `berth: unknown command: berth ${shown}\n\nRun 'berth --help' for more information\n`,
    );
    return 1;
  }
  return run(ctx, handler, args, shown);
}

async function run(
  ctx: CommandContext,
  handler: CommandHandler,
  args: string[],
  shown: string,
): Promise<number> {
  // --help before the first argument (after it, it belongs to the container's command).
  const firstPositional = args.findIndex((a) => !a.startsWith('-'));
  const helpAt = args.indexOf('--help');
  if (helpAt >= 0 && (firstPositional < 0 || helpAt < firstPositional)) {
    ctx.io.stdout.write(
      `Usage:  berth ${shown} [OPTIONS]\n\nberth takes the docker CLI's flags for "docker ${shown}" (those the engine supports) and prints what docker prints.\n`,
    );
    return 0;
  }
  try {
    return await handler(ctx, args);
  } catch (err) {
    const { text, code } = describeError(err, ctx.endpoint);
    if (err instanceof UsageError) {
      ctx.io.stderr.write(
        `${/requires|argument/.test(text) ? `"berth ${shown}" ${text}` : text}\nSee 'berth ${shown} --help'.\n`,
      );
    } else ctx.io.stderr.write(`${text}\n`);
    return code;
  }
}
