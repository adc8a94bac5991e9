// Waiting for a dependency's condition before its dependents start:
// service_healthy and service_completed_successfully.
//
// Berth's engine does not run health checks yet (it keeps the Healthcheck
// config but reports no State.Health). Where a container has no State.Health,
// compose runs the service's healthcheck test itself through exec, with the
// service's interval, timeout, retries and start_period, and fails with a
// clear error when the probes keep failing or time runs out: never a hang.
import type Dockerode from 'dockerode';
import { execCapture } from './container-exec.js';
import { ComposeError } from './errors.js';
import type { Healthcheck } from './model.js';
import type { Progress } from './project-resources.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Docker's defaults for a healthcheck's timings.
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;

export interface HealthWaitOptions {
  service: string;
  healthcheck: Healthcheck | undefined;
  progress: Progress;
}

function probeCommand(test: string[]): string[] {
  return test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test.slice(1);
}

export async function waitHealthy(
  docker: Dockerode,
  containerId: string,
  name: string,
  o: HealthWaitOptions,
): Promise<void> {
  const h = o.healthcheck;
  if (!h || h.test[0] === 'NONE') {
    throw new ComposeError(
      `container ${name} has no healthcheck configured, so service_healthy can never be met`,
      {
        key: `services.${o.service}.healthcheck`,
      },
    );
  }
  const interval = (h.interval ?? DEFAULT_INTERVAL_MS * 1e6) / 1e6;
  const timeout = (h.timeout ?? DEFAULT_TIMEOUT_MS * 1e6) / 1e6;
  const retries = h.retries ?? DEFAULT_RETRIES;
  const startPeriod = (h.startPeriod ?? 0) / 1e6;
  const started = Date.now();
  // Long enough for every probe the healthcheck allows, plus a margin; then give up.
  const deadline = started + startPeriod + (retries + 1) * (interval + timeout) + 5000;
  let failures = 0;
  let last = '';
  let noted = false;
  for (;;) {
    const info = await docker.getContainer(containerId).inspect();
    if (!info.State.Running) {
      throw new ComposeError(
        `container ${name} exited (code ${info.State.ExitCode}) before it became healthy`,
      );
    }
    const health = (info.State as { Health?: { Status: string } }).Health;
    if (health) {
      if (health.Status === 'healthy') return;
      if (health.Status === 'unhealthy') throw new ComposeError(`container ${name} is unhealthy`);
      await sleep(200);
    } else {
      if (!noted) {
        o.progress(
          `Container ${name}  Waiting (the engine does not run health checks; berth compose runs the healthcheck itself)`,
        );
        noted = true;
      }
      const r = await execCapture(docker, containerId, probeCommand(h.test), timeout);
      if (r.exitCode === 0) return;
      last = r.timedOut
        ? `timed out after ${timeout} ms`
        : `exit code ${r.exitCode}${r.output.trim() ? `: ${r.output.trim().slice(0, 200)}` : ''}`;
      if (Date.now() - started >= startPeriod) failures++;
      if (failures >= retries) {
        throw new ComposeError(
          `container ${name} is unhealthy: its healthcheck failed ${failures} times (last: ${last})`,
        );
      }
      await sleep(interval);
    }
    if (Date.now() > deadline) {
      throw new ComposeError(
        `container ${name} did not become healthy within ${Math.round((deadline - started) / 1000)} s${last ? ` (last probe: ${last})` : ''}`,
      );
    }
  }
}

export async function waitCompleted(docker: Dockerode, containerId: string, name: string): Promise<void> {
  const r = (await docker.getContainer(containerId).wait()) as { StatusCode: number };
  if (r.StatusCode !== 0) {
    throw new ComposeError(`container ${name} did not complete successfully: exit code ${r.StatusCode}`);
  }
}
