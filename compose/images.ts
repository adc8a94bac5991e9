// `compose images`: the image of each of the project's service containers,
// with its repository, tag, id and size as the engine has them.
import type Dockerode from 'dockerode';
import { projectContainers } from './project-containers.js';

export interface ContainerImage {
  container: string;
  repository: string;
  tag: string;
  /** sha256:… */
  id: string;
  size: number;
}

/** The images of the named services' containers (all services without names), by container name. */
export async function serviceImages(
  docker: Dockerode,
  projectName: string,
  services: string[] = [],
): Promise<ContainerImage[]> {
  const containers = await projectContainers(docker, projectName, { services, oneoff: false });
  const inspected = new Map<string, Promise<Dockerode.ImageInspectInfo | undefined>>();
  const rows = await Promise.all(
    containers.map(async (c) => {
      if (!inspected.has(c.runningImageId))
        inspected.set(
          c.runningImageId,
          docker
            .getImage(c.runningImageId)
            .inspect()
            .catch(() => undefined),
        );
      const image = await inspected.get(c.runningImageId);
      // The first tag names it, as docker compose shows it; an untagged image is <none>.
      const ref = image?.RepoTags?.find((t) => t !== '<none>:<none>');
      const colon = ref ? ref.lastIndexOf(':') : -1;
      return {
        container: c.name,
        repository: ref && colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : (ref ?? '<none>'),
        tag: ref && colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : '<none>',
        id: c.runningImageId,
        size: image?.Size ?? 0,
      };
    }),
  );
  return rows.sort((a, b) => a.container.localeCompare(b.container));
}
