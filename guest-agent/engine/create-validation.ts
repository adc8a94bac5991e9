// Type checks of a container-create body. dockerd rejects a field of the wrong
// JSON type with 400; so does Berth, naming the field and what it expected.
import type { ContainerCreateRequest } from '../../common/engine-api.js';
import { invalid } from '../errors.js';

type Kind = 'string' | 'boolean' | 'number' | 'strings' | 'strslice' | 'object' | 'objects' | 'string-map';

const CONFIG_FIELDS: Record<string, Kind> = {
  Hostname: 'string',
  Domainname: 'string',
  User: 'string',
  AttachStdin: 'boolean',
  AttachStdout: 'boolean',
  AttachStderr: 'boolean',
  ExposedPorts: 'object',
  Tty: 'boolean',
  OpenStdin: 'boolean',
  StdinOnce: 'boolean',
  Env: 'strings',
  Cmd: 'strslice',
  Entrypoint: 'strslice',
  Image: 'string',
  Volumes: 'object',
  WorkingDir: 'string',
  Labels: 'string-map',
  StopSignal: 'string',
  StopTimeout: 'number',
  Shell: 'strslice',
  HostConfig: 'object',
  NetworkingConfig: 'object',
};

const HOST_CONFIG_FIELDS: Record<string, Kind> = {
  AutoRemove: 'boolean',
  RestartPolicy: 'object',
  Memory: 'number',
  MemorySwap: 'number',
  MemoryReservation: 'number',
  NanoCpus: 'number',
  CpuShares: 'number',
  CpuPeriod: 'number',
  CpuQuota: 'number',
  CpusetCpus: 'string',
  PidsLimit: 'number',
  Privileged: 'boolean',
  CapAdd: 'strings',
  CapDrop: 'strings',
  ReadonlyRootfs: 'boolean',
  NetworkMode: 'string',
  LogConfig: 'object',
  Binds: 'strings',
  VolumesFrom: 'strings',
  Tmpfs: 'string-map',
  ExtraHosts: 'strings',
  Dns: 'strings',
  DnsSearch: 'strings',
  DnsOptions: 'strings',
  SecurityOpt: 'strings',
  ShmSize: 'number',
  OomScoreAdj: 'number',
  Sysctls: 'string-map',
  PortBindings: 'object',
  Devices: 'objects',
  Ulimits: 'objects',
  GroupAdd: 'strings',
  Links: 'strings',
  PidMode: 'string',
  IpcMode: 'string',
  UTSMode: 'string',
  CgroupnsMode: 'string',
  DeviceCgroupRules: 'strings',
  MemorySwappiness: 'number',
  OomKillDisable: 'boolean',
  MaskedPaths: 'strings',
  ReadonlyPaths: 'strings',
  Annotations: 'string-map',
  Init: 'boolean',
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function check(where: string, field: string, kind: Kind, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  const fail = (expected: string) =>
    invalid(`invalid type for ${where}${field}: expected ${expected}, got ${describe(value)}`);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw fail('a number');
      return value;
    case 'strings':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
        throw fail('an array of strings');
      return value;
    case 'strslice':
      // Like Go's strslice.StrSlice: a single string is accepted as a one-element list.
      if (typeof value === 'string') return [value];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
        throw fail('an array of strings');
      return value;
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value)) throw fail('an object');
      return value;
    case 'objects':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null || Array.isArray(v)))
        throw fail('an array of objects');
      return value;
    case 'string-map':
      if (typeof value !== 'object' || Array.isArray(value)) throw fail('an object of strings');
      for (const v of Object.values(value as object))
        if (typeof v !== 'string') throw fail('an object of strings');
      return value;
  }
}

/** Validates types in place (normalising string Cmd/Entrypoint to arrays) and returns the body. */
export function validateCreateBody(body: unknown): ContainerCreateRequest {
  if (body === null || body === undefined)
    throw invalid('config cannot be empty in order to create a container');
  if (typeof body !== 'object' || Array.isArray(body))
    throw invalid('invalid container config: expected a JSON object');
  const config = body as Record<string, unknown>;
  for (const [field, kind] of Object.entries(CONFIG_FIELDS)) {
    if (field in config) config[field] = check('', field, kind, config[field]);
  }
  const host = config.HostConfig as Record<string, unknown> | undefined;
  if (host) {
    for (const [field, kind] of Object.entries(HOST_CONFIG_FIELDS)) {
      if (field in host) host[field] = check('HostConfig.', field, kind, host[field]);
    }
  }
  return config as ContainerCreateRequest;
}
