// Which engine the desktop backend talks to: an explicit socket (option), else
// DOCKER_HOST, else the Berth VM's forwarded socket ($BERTH_HOME/docker.sock).
import Docker from 'dockerode';
import { berthHome, vmPaths } from '../vm/paths.js';

export interface EngineConnection {
  docker: Docker;
  socket: string;
  /** vm: the Berth VM's socket; external: one named by DOCKER_HOST or the caller. */
  mode: 'vm' | 'external';
}

export function connectEngine(opts: { socket?: string; env?: NodeJS.ProcessEnv } = {}): EngineConnection {
  const env = opts.env ?? process.env;
  let socket = opts.socket?.replace(/^unix:\/\//, '');
  let mode: EngineConnection['mode'] = 'external';
  if (!socket && env.DOCKER_HOST) {
    if (!env.DOCKER_HOST.startsWith('unix://'))
      throw new Error(
        `DOCKER_HOST=${env.DOCKER_HOST} is not a unix socket; the dashboard talks to unix sockets only`,
      );
    socket = env.DOCKER_HOST.slice('unix://'.length);
  }
  if (!socket) {
    socket = vmPaths(berthHome(env)).engineSocket;
    mode = 'vm';
  }
  return { docker: new Docker({ socketPath: socket }), socket, mode };
}
