// The services' images: built from `build:` through the engine's POST /build
// (the context folder as a tar), pulled by `pull_policy`, and what `up` and
// `run` need before they create containers.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { contextTar } from './build-context.js';
import { ComposeError } from './errors.js';
import { engineMessage, unlessNotFound } from './engine-errors.js';
import { LABEL } from './labels.js';
import type { Project, PullPolicy, Service } from './model.js';
import type { Progress } from './project-resources.js';

export interface BuildOptions {
  noCache?: boolean;
  pull?: boolean;
  /** --build-arg: over the file's args. */
  args?: Record<string, string>;
  /** The builder's output (Step 1/3 : FROM …); default: dropped. */
  output?: (text: string) => void;
  progress: Progress;
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Follows a build or pull stream to its end; its first error fails it. */
function follow(
  docker: Dockerode,
  stream: NodeJS.ReadableStream,
  onEvent: (e: ProgressEvent) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: string | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : failed ? reject(new Error(failed)) : resolve()),
      (e: ProgressEvent) => {
        if (e.error || e.errorDetail?.message) failed ??= e.errorDetail?.message ?? e.error;
        onEvent(e);
      },
    );
  });
}

/** Builds one service's image and tags it as the service's image. */
export async function buildService(
  docker: Dockerode,
  project: Project,
  service: Service,
  o: BuildOptions,
): Promise<void> {
  const b = service.build;
  if (!b) return;
  const key = `services.${service.name}.build`;
  if (!statSync(b.context, { throwIfNoEntry: false })?.isDirectory())
    throw new ComposeError(`build context ${b.context} is not a folder`, { key: `${key}.context` });
  if (!existsSync(path.join(b.context, b.dockerfile)))
    throw new ComposeError(`no ${b.dockerfile} in the build context ${b.context}`, {
      key: `${key}.dockerfile`,
    });
  o.progress(`Service ${service.name}  Building`);
  const options = {
    t: service.image,
    dockerfile: b.dockerfile,
    buildargs: { ...b.args, ...o.args },
    labels: { ...b.labels, [LABEL.project]: project.name, [LABEL.service]: service.name },
    nocache: b.noCache || o.noCache === true,
    rm: true,
    forcerm: true,
    ...(b.target ? { target: b.target } : {}),
    ...(b.pull || o.pull ? { pull: '1' } : {}),
    ...(service.platform ? { platform: service.platform } : {}),
  };
  try {
    const stream = await docker.buildImage(
      await contextTar(b.context, b.dockerfile),
      options as unknown as Dockerode.ImageBuildOptions,
    );
    await follow(docker, stream, (e) => {
      if (e.stream) o.output?.(e.stream);
    });
  } catch (err) {
    throw new ComposeError(`service "${service.name}" failed to build: ${engineMessage(err).trim()}`);
  }
  o.progress(`Service ${service.name}  Built`);
}

export async function pullImage(
  docker: Dockerode,
  image: string,
  progress: Progress,
  platform?: string,
): Promise<void> {
  progress(`Image ${image}  Pulling`);
  try {
    await follow(docker, await docker.pull(image, platform ? { platform } : {}), () => {});
  } catch (err) {
    throw new ComposeError(`could not pull ${image}: ${engineMessage(err)}`);
  }
  progress(`Image ${image}  Pulled`);
}

export interface EnsureImagesOptions {
  /** up --build: build every service that has build:, even when its image exists. */
  build?: boolean;
  /** up --no-build: build nothing; a missing image of a service with build: is an error. */
  noBuild?: boolean;
  /** up --pull: this policy for every service, over their pull_policy. */
  pullPolicy?: PullPolicy;
  progress: Progress;
  output?: (text: string) => void;
}

/**
 * Image ids by image reference. A service with build: is built when its image
 * is missing (or with --build, or pull_policy: build); others are pulled when
 * missing, or always with pull_policy: always; pull_policy: never refuses a
 * missing image.
 */
export async function ensureImages(
  docker: Dockerode,
  project: Project,
  services: Service[],
  o: EnsureImagesOptions,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const built = new Set<string>();
  const policyOf = (s: Service) => o.pullPolicy ?? s.pullPolicy;
  for (const s of services) {
    if (!s.build || built.has(s.image)) continue;
    const present = await unlessNotFound(docker.getImage(s.image).inspect());
    if (o.noBuild) {
      if (!present)
        throw new ComposeError(
          `service "${s.name}" has no image ${s.image} on the engine, and --no-build forbids building it`,
        );
      continue;
    }
    if (o.build || policyOf(s) === 'build' || !present) {
      await buildService(docker, project, s, { progress: o.progress, output: o.output });
      built.add(s.image);
    }
  }
  for (const s of services) {
    if (ids.has(s.image)) continue;
    let info = await unlessNotFound(docker.getImage(s.image).inspect());
    if (!built.has(s.image) && !s.build && (policyOf(s) === 'always' || !info)) {
      if (!info && policyOf(s) === 'never')
        throw new ComposeError(
          `image ${s.image} is not on the engine and ${o.pullPolicy ? '--pull' : 'pull_policy'} is never`,
          o.pullPolicy ? {} : { key: `services.${s.name}.pull_policy` },
        );
      await pullImage(docker, s.image, o.progress, s.platform);
      info = await docker.getImage(s.image).inspect();
    }
    if (!info) throw new ComposeError(`no image ${s.image} for service ${s.name}`);
    ids.set(s.image, info.Id);
  }
  return ids;
}

/**
 * `compose pull`: each service's image. A service that only builds has none
 * to pull; one that names its image and builds may fail to pull (it can be
 * built), which is reported, not fatal.
 */
export async function pullServices(
  docker: Dockerode,
  services: Service[],
  progress: Progress,
): Promise<void> {
  const done = new Set<string>();
  for (const s of services) {
    if (done.has(s.image)) continue;
    done.add(s.image);
    if (s.build && !s.build.imageNamed) {
      progress(`Service ${s.name}  Skipped: it is built, there is no image to pull`);
      continue;
    }
    try {
      await pullImage(docker, s.image, progress, s.platform);
    } catch (err) {
      if (!s.build) throw err;
      progress(`Service ${s.name}  Not pulled (it can be built): ${(err as Error).message}`);
    }
  }
}
