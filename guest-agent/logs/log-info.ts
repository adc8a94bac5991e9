// What a log driver knows about its container (dockerd's logger.Info), and the extra attributes the common
// options `labels`, `labels-regex`, `env` and `env-regex` pick from it.
import { invalid } from '../errors.js';
import type { LogAttr } from './log-types.js';

export interface ContainerLogInfo {
  /** 64 hex. */
  id: string;
  /** With its leading '/'. */
  name: string;
  /** "sha256:…". */
  imageId: string;
  /** As the container was created from it (Config.Image). */
  imageName: string;
  entrypoint: string;
  args: string[];
  /** Config.Env: KEY=VALUE. */
  env: string[];
  labels: Record<string, string>;
}

/** The options every file and remote driver takes for attributes (dockerd's logger.Attr*). */
export const ATTRIBUTE_OPTIONS = ['labels', 'labels-regex', 'env', 'env-regex', 'tag'];

function compileRegex(key: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw invalid(`error parsing regexp in log opt ${key}: ${(err as Error).message}`);
  }
}

/** At create: the regular expressions compile. */
export function validateAttributeOptions(config: Record<string, string>): void {
  for (const key of ['labels-regex', 'env-regex']) {
    const pattern = config[key];
    if (pattern) compileRegex(key, pattern);
  }
}

/**
 * dockerd's Info.ExtraAttributes: the named labels and env variables that the container has, and those whose
 * names match the regular expressions. Env options only count when the container has any env at all.
 */
export function extraAttributes(config: Record<string, string>, info: ContainerLogInfo): Map<string, string> {
  const extra = new Map<string, string>();
  const labels = config['labels'];
  if (labels) {
    for (const name of labels.split(',')) {
      const v = info.labels[name];
      if (v !== undefined) extra.set(name, v);
    }
  }
  const labelsRegex = config['labels-regex'];
  if (labelsRegex) {
    const re = compileRegex('labels-regex', labelsRegex);
    for (const [k, v] of Object.entries(info.labels)) if (re.test(k)) extra.set(k, v);
  }
  const env = new Map<string, string>();
  for (const e of info.env) {
    const eq = e.indexOf('=');
    if (eq !== -1) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  if (env.size === 0) return extra;
  const envNames = config['env'];
  if (envNames) {
    for (const name of envNames.split(',')) {
      const v = env.get(name);
      if (v !== undefined) extra.set(name, v);
    }
  }
  const envRegex = config['env-regex'];
  if (envRegex) {
    const re = compileRegex('env-regex', envRegex);
    for (const [k, v] of env) if (re.test(k)) extra.set(k, v);
  }
  return extra;
}

/** Sorted by key as Go sorts strings (bytewise UTF-8), the order dockerd prints and marshals them in. */
export function sortedAttrs(attrs: Map<string, string>): LogAttr[] {
  return [...attrs]
    .map(([key, value]) => ({ key, value }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}
