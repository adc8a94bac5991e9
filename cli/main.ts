// berth: Berth's command-line client.
import Docker from 'dockerode';
import { BERTH_VERSION } from '../common/engine-api.js';
import { engineSocket } from './engine-endpoint.js';
import { engineChecks, hostChecks, type Check } from './doctor.js';
import { vmCommand } from '../vm/commands.js';
import { composeCommand } from './compose.js';

const USAGE = `Usage: berth COMMAND

Commands:
  version    Show the Berth client and engine versions
  doctor     Check this machine and the engine, and say what to install
  vm         The Berth VM: start, stop, status, logs, build-image
  compose    Run a Compose project: up, down, ps, logs, config, exec, run, …
`;

function printChecks(checks: Check[]): boolean {
  let allOk = true;
  for (const c of checks) {
    allOk &&= c.ok;
    process.stdout.write(`${c.ok ? ' ok ' : 'FAIL'}  ${c.name.padEnd(20)} ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`      ${''.padEnd(20)} fix: ${c.fix}\n`);
  }
  return allOk;
}

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'version': {
      process.stdout.write(`Client: Berth ${BERTH_VERSION}\n`);
      const socket = engineSocket();
      try {
        const v = (await new Docker({ socketPath: socket }).version()) as unknown as {
          Version: string;
          ApiVersion: string;
          Platform?: { Name: string };
        };
        process.stdout.write(
          `Server: ${v.Platform?.Name ?? 'unknown'} (API ${v.ApiVersion}, Docker ${v.Version} compatible) on ${socket}\n`,
        );
      } catch (err) {
        process.stdout.write(`Server: not reachable on ${socket}: ${(err as Error).message}\n`);
        return 1;
      }
      return 0;
    }
    case 'doctor': {
      const socket = engineSocket();
      const ok = printChecks([
        ...hostChecks(),
        ...(await engineChecks(new Docker({ socketPath: socket }), socket)),
      ]);
      return ok ? 0 : 1;
    }
    case 'vm':
      return vmCommand(argv.slice(1));
    case 'compose':
      return composeCommand(argv.slice(1));
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`berth: unknown command "${command}"\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berth: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
