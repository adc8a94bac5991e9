// Waiting on containers: a dependency's condition before its dependents start
// (service_healthy, service_completed_successfully), and `up --wait`. Health
// is the engine's (State.Health, from the healthcheck compose gave the
// container); a container that exits or turns unhealthy fails the wait at
// once with a clear error, never a hang.
import type Dockerode from 'dockerode';
import { ComposeError } from './errors.js';

const POLL_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ContainerHealthState {
  Running: boolean;
  ExitCode: number;
  Health?: { Status: string; Log?: Array<{ ExitCode: number; Output: string }> };
}

async function stateOf(docker: Dockerode, id: string): Promise<ContainerHealthState> {
  return (await docker.getContainer(id).inspect()).State as unknown as ContainerHealthState;
}

function lastProbe(s: ContainerHealthState): string {
  const last = s.Health?.Log?.at(-1);
  if (!last) return '';
  const output = last.Output.trim().slice(0, 200);
  return ` (last check: exit code ${last.ExitCode}${output ? `: ${output}` : ''})`;
}

/** Resolves once the container is healthy; throws if it has no healthcheck, exits or turns unhealthy. */
export async function waitHealthy(docker: Dockerode, containerId: string, name: string): Promise<void> {
  for (;;) {
    const s = await stateOf(docker, containerId);
    if (!s.Running)
      throw new ComposeError(`container ${name} exited (${s.ExitCode}) before it became healthy`);
    if (!s.Health)
      throw new ComposeError(`container ${name} has no healthcheck configured, so it can never be healthy`);
    if (s.Health.Status === 'healthy') return;
    if (s.Health.Status === 'unhealthy')
      throw new ComposeError(`container ${name} is unhealthy${lastProbe(s)}`);
    await sleep(POLL_MS);
  }
}

/** Resolves once the container has exited with 0. */
export async function waitCompleted(docker: Dockerode, containerId: string, name: string): Promise<void> {
  const r = (await docker.getContainer(containerId).wait()) as { StatusCode: number };
  if (r.StatusCode !== 0) {
    throw new ComposeError(`container ${name} did not complete successfully: exit code ${r.StatusCode}`);
  }
}

/** `up --wait`: running, and healthy where the container has a healthcheck. */
export async function waitRunningOrHealthy(
  docker: Dockerode,
  containerId: string,
  name: string,
): Promise<'running' | 'healthy'> {
  const s = await stateOf(docker, containerId);
  if (!s.Running) throw new ComposeError(`container ${name} exited (${s.ExitCode})`);
  if (!s.Health) return 'running';
  await waitHealthy(docker, containerId, name);
  return 'healthy';
}
