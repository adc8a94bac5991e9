// berth: Berth's command-line client.
import Docker from 'dockerode';
import { engineSocket } from './engine-endpoint.js';
import { engineChecks, hostChecks, type Check } from '../vm/doctor.js';
import { permissionChecks } from './doctor-permissions.js';
import { vmCommand } from '../vm/commands.js';
import { composeCommand } from './compose.js';
import { dockerMain, isDockerCommand } from './docker-cli.js';
import { dashboardCommand } from './dashboard.js';

const USAGE = `Usage: berth COMMAND

Commands:
  version    Show the Berth client and engine versions
  doctor     Check this machine and the engine, and say what to install
  vm         The Berth VM: start, stop, restart, status, logs, ssh, reset, settings, build-image
  compose    Run a Compose project: up, down, ps, logs, config, exec, run, …
  dashboard  Serve the dashboard on 127.0.0.1 and print its address
  context    install: a "berth" docker context, so the docker CLI and other tools use Berth
  explain    How a container is isolated: namespaces, cgroups, layers, mounts, network, env sources

Docker-compatible commands (the docker CLI's flags and output):
  run create start stop restart kill rm ps logs exec attach inspect cp commit
  images pull push build tag rmi save load history volume network stats top
  events port wait pause unpause rename info login logout

Global options (before the command):
  -H, --host ADDR      Engine address (unix:///path, tcp://host:port or ssh://[user@]host[:port])
  -c, --context NAME   Docker context to use
      --config DIR     Docker config folder (default ~/.docker)
      --tls            Use TLS (implied by --tlsverify)
      --tlsverify      Use TLS and verify the engine's certificate (also DOCKER_TLS_VERIFY)
      --tlscacert FILE --tlscert FILE --tlskey FILE
                       TLS files (default ca.pem, cert.pem, key.pem in DOCKER_CERT_PATH or ~/.docker)
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
    case 'doctor': {
      const socket = engineSocket();
      const ok = printChecks([
        ...hostChecks(),
        ...(await engineChecks(new Docker({ socketPath: socket }), socket)),
        ...permissionChecks(process.env, socket),
      ]);
      return ok ? 0 : 1;
    }
    case 'vm':
      return vmCommand(argv.slice(1));
    case 'compose':
      return composeCommand(argv.slice(1));
    case 'dashboard':
      return dashboardCommand(argv.slice(1));
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      if (command.startsWith('-') || isDockerCommand(command)) return dockerMain(argv);
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
