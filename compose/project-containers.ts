// A project's containers as the engine has them, found by label (so those
// docker-compose made count too).
import type Dockerode from 'dockerode';
import { LABEL } from './labels.js';

export interface ProjectContainer {
  id: string;
  name: string;
  service: string;
  /** undefined for one-off (compose run) containers. */
  number?: number;
  oneoff: boolean;
  state: string;
  status: string;
  image: string;
  command: string;
  created: number;
  configHash?: string;
  imageId?: string;
  /** The id of the image the container runs, as the engine has it. */
  runningImageId: string;
  labels: Record<string, string>;
  ports: Dockerode.Port[];
}

export interface ContainerQuery {
  services?: string[];
  /** true: one-off containers only; false: service containers only; undefined: both. */
  oneoff?: boolean;
  /** Stopped ones too (default true). */
  all?: boolean;
}

export async function projectContainers(
  docker: Dockerode,
  project: string,
  q: ContainerQuery = {},
): Promise<ProjectContainer[]> {
  const label = [`${LABEL.project}=${project}`];
  if (q.oneoff !== undefined) label.push(`${LABEL.oneoff}=${q.oneoff ? 'True' : 'False'}`);
  const list = await docker.listContainers({ all: q.all ?? true, filters: JSON.stringify({ label }) });
  return list
    .map((c): ProjectContainer => {
      const labels = c.Labels ?? {};
      const number = labels[LABEL.containerNumber];
      return {
        id: c.Id,
        name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
        service: labels[LABEL.service] ?? '',
        number: number ? Number(number) : undefined,
        oneoff: labels[LABEL.oneoff] === 'True',
        state: c.State,
        status: c.Status,
        image: c.Image,
        command: c.Command,
        created: c.Created,
        configHash: labels[LABEL.configHash],
        imageId: labels[LABEL.image],
        runningImageId: c.ImageID,
        labels,
        ports: c.Ports ?? [],
      };
    })
    .filter((c) => !q.services?.length || q.services.includes(c.service))
    .sort(
      (a, b) =>
        a.service.localeCompare(b.service) ||
        (a.number ?? 0) - (b.number ?? 0) ||
        a.name.localeCompare(b.name),
    );
}

/** The container name docker compose v2 gives number n of a service. */
export function serviceContainerName(project: string, service: string, n: number): string {
  return `${project}-${service}-${n}`;
}
