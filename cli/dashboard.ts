// `berth dashboard`: the dashboard served headless on 127.0.0.1 until Ctrl-C;
// prints the address with this start's token.
import { startHeadlessServer } from '../main/headless-server.js';

const USAGE = `Usage: berth dashboard [--port N] [--host unix:///path/docker.sock]

Serves the Berth dashboard on 127.0.0.1 and prints its address, with a token
that is new at every start. The engine is DOCKER_HOST's, else the VM's.
`;

export async function dashboardCommand(argv: string[]): Promise<number> {
  let port = 0;
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' || a === '-p') port = Number(argv[++i]);
    else if (a.startsWith('--port=')) port = Number(a.slice(7));
    else if (a === '--host' || a === '-H') socket = argv[++i];
    else if (a.startsWith('--host=')) socket = a.slice(7);
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else {
      process.stderr.write(`berth dashboard: unknown argument "${a}"\n\n${USAGE}`);
      return 1;
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`berth dashboard: --port must be from 0 to 65535\n`);
    return 1;
  }
  const server = await startHeadlessServer({ port, socket });
  process.stdout.write(
    `Berth dashboard (engine ${server.backend.engine.socket}):\n  ${server.openUrl}\nCtrl-C stops it.\n`,
  );
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  await server.close();
  return 0;
}
