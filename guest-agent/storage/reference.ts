// Docker image references ("busybox", "localhost:5000/a/b:1", "x@sha256:…"):
// parsing, validation, and the two spellings the engine needs — the familiar
// one users see ("busybox:latest") and the fully qualified one used as a key
// ("docker.io/library/busybox:latest").
import { invalid } from '../errors.js';

export interface ParsedReference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX64 = /^[a-f0-9]{64}$/;

function bad(ref: string, why?: string): Error {
  return invalid(`invalid reference format: ${why ?? `"${ref}" is not a valid image reference`}`);
}

/** Parse and normalise a reference: the default domain and "library/" are filled in. */
export function parseReference(ref: string): ParsedReference {
  if (typeof ref !== 'string' || ref === '') throw bad(ref, 'the image reference is empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw bad(ref, `"${digest}" in "${ref}" is not a valid digest (expected sha256:<64 hex>)`);
    if (digest.startsWith('sha256:') && !HEX64.test(digest.slice(7))) {
      throw bad(
        ref,
        `"${digest}" in "${ref}" is not a valid sha256 digest (expected 64 lowercase hex digits)`,
      );
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw bad(
        ref,
        `tag "${tag}" in "${ref}" is not valid (letters, digits, "_", "." and "-", at most 128)`,
      );
  }
  if (rest === '') throw bad(ref);
  if (rest.length > NAME_MAX)
    throw bad(ref, `repository name in "${ref}" is longer than ${NAME_MAX} characters`);
  if (!digest && !tag && HEX64.test(rest)) {
    throw bad(ref, `"${ref}" looks like an image ID: a repository name cannot be a 64-character hex string`);
  }

  // The first component is a registry when it looks like a host name, as docker decides it.
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) throw bad(ref, `registry "${domain}" in "${ref}" is not a valid host[:port]`);
  if (path === '') throw bad(ref);
  const parts = path.split('/');
  for (const part of parts) {
    if (PATH_COMPONENT.test(part)) continue;
    if (PATH_COMPONENT.test(part.toLowerCase())) {
      throw bad(ref, `repository name (${path}) must be lowercase`);
    }
    throw bad(
      ref,
      `"${ref}" is not a valid image reference (repository names use lowercase letters, digits, ".", "_", "-" and "/")`,
    );
  }
  if (domain === DEFAULT_DOMAIN && parts.length === 1) path = OFFICIAL_PREFIX + path;
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The repository name as users write it: "busybox", "user/app", "localhost:5000/a/b". */
export function familiarName(p: ParsedReference): string {
  if (p.domain !== DEFAULT_DOMAIN) return `${p.domain}/${p.path}`;
  if (p.path.startsWith(OFFICIAL_PREFIX) && p.path.indexOf('/', OFFICIAL_PREFIX.length) === -1) {
    return p.path.slice(OFFICIAL_PREFIX.length);
  }
  return p.path;
}

export function fullName(p: ParsedReference): string {
  return `${p.domain}/${p.path}`;
}

function suffix(p: ParsedReference): string {
  if (p.tag === undefined && p.digest === undefined) return ':latest';
  return (p.tag !== undefined ? `:${p.tag}` : '') + (p.digest !== undefined ? `@${p.digest}` : '');
}

/** 'docker.io/library/busybox' → 'busybox:latest'. */
export function familiarReference(ref: string): string {
  const p = parseReference(ref);
  return familiarName(p) + suffix(p);
}

/** 'busybox' → 'docker.io/library/busybox:latest'. */
export function fullyQualified(ref: string): string {
  const p = parseReference(ref);
  return fullName(p) + suffix(p);
}
