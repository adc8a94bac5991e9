// The com.docker.compose.* labels docker compose (v1 and v2) puts on what it
// makes; containers, networks and volumes with them are a project's, whichever
// tool made them. Also the config hash that tells `up` whether a container
// still matches its service.
import { createHash } from 'node:crypto';
import { ENV_SOURCES_LABEL, type EnvSource as ExplainedEnvSource } from '../common/explain.js';
import type { EnvSource, Project, Service } from './model.js';

export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  containerNumber: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  slug: 'com.docker.compose.slug',
  configHash: 'com.docker.compose.config-hash',
  image: 'com.docker.compose.image',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  environmentFile: 'com.docker.compose.project.environment_file',
  version: 'com.docker.compose.version',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  dependsOn: 'com.docker.compose.depends_on',
  /** Berth's own: where each container variable came from (JSON, KEY → source), for `berth explain`. */
  environmentSources: ENV_SOURCES_LABEL,
} as const;

/** Compose's sources by the names `berth explain` shows. */
const EXPLAINED_SOURCE: Record<EnvSource, ExplainedEnvSource> = {
  'run -e': 'compose run -e',
  'environment (interpolated)': 'compose .env interpolation',
  'env_file (interpolated)': 'compose .env interpolation',
  environment: 'compose environment',
  env_file: 'compose env_file',
};

/** The environment-sources label's value: KEY → source, JSON. */
export function environmentSourcesLabel(env: Record<string, { source: EnvSource }>): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, EXPLAINED_SOURCE[v.source]])),
  );
}

/**
 * What goes into com.docker.compose.version. docker-compose 1.29 compares it
 * with 1.21.0 (older containers used another naming scheme), so it must read
 * as a newer compose; the suffix says who made the container.
 */
export const COMPOSE_LABEL_VERSION = '2.0.0-berth';

export function projectLabels(project: Project): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL.project]: project.name,
    [LABEL.workingDir]: project.workingDir,
    [LABEL.configFiles]: project.configFiles.join(','),
    [LABEL.version]: COMPOSE_LABEL_VERSION,
  };
  if (project.environmentFile) labels[LABEL.environmentFile] = project.environmentFile;
  return labels;
}

/** A stable JSON of a value: object keys sorted, so equal configs hash equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The service's configuration as it affects its containers. Scale, profiles
 * and depends_on change how many containers there are or when they start, not
 * what a container is, so they stay out (as in docker compose).
 */
export function serviceConfigHash(service: Service): string {
  // How the image is made or fetched is not the container either: the image id label covers what came of it.
  const {
    scale: _scale,
    profiles: _profiles,
    dependsOn: _deps,
    build: _build,
    pullPolicy: _pullPolicy,
    // Hooks and attach act on a container from outside; changing them does not make it another one.
    postStart: _postStart,
    preStop: _preStop,
    attach: _attach,
    ...rest
  } = service;
  // Where a value came from does not change the container, only the value does.
  const environment = Object.fromEntries(Object.entries(rest.environment).map(([k, v]) => [k, v.value]));
  // Keys added later count only when set, so containers made before them keep their hash.
  const hashed: Record<string, unknown> = { ...rest, environment };
  if (!service.devices.length) delete hashed.devices;
  if (!Object.keys(service.ulimits).length) delete hashed.ulimits;
  if (!service.groupAdd.length) delete hashed.groupAdd;
  for (const key of ['secrets', 'configs', 'links', 'externalLinks', 'volumesFrom'] as const)
    if (!service[key].length) delete hashed[key];
  if (!Object.keys(service.hostOptions).length) delete hashed.hostOptions;
  return createHash('sha256').update(canonical(hashed)).digest('hex');
}
