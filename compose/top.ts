// `compose top`: the processes of each running service container.
import type Dockerode from 'dockerode';
import type { Project } from './model.js';
import { projectContainers } from './project-containers.js';

export interface ContainerProcesses {
  container: string;
  titles: string[];
  processes: string[][];
}

export async function top(
  docker: Dockerode,
  project: Project,
  services: string[] = [],
): Promise<ContainerProcesses[]> {
  const containers = await projectContainers(docker, project.name, { services, oneoff: false });
  const out: ContainerProcesses[] = [];
  for (const c of containers
    .filter((x) => x.state === 'running')
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const r = (await docker.getContainer(c.id).top()) as { Titles: string[]; Processes: string[][] };
    out.push({ container: c.name, titles: r.Titles, processes: r.Processes ?? [] });
  }
  return out;
}
