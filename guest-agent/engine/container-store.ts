// Containers on disk (<data-root>/containers/<id>/config.v2.json, written
// atomically on every change) and the in-memory index by id and by name.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerConfig, ContainerState, HostConfig } from '../../common/engine-api.js';
import { ZERO_TIME } from '../../common/engine-api.js';
import { readJson, removeStaleTemps, writeJsonAtomic } from '../../common/atomic-file.js';
import { invalid, notFound } from '../errors.js';
import { log } from '../util/logger.js';
import type { ParsedMount, ResolvedMount } from '../volumes/volume-types.js';
import { shareWithRemappedRoot } from '../util/id-map.js';

/** What is persisted of a container. Field names follow dockerd's inspect output. */
export interface ContainerRecord {
  Id: string;
  Name: string; // "/name"
  Created: string;
  Path: string;
  Args: string[];
  Image: string; // image id "sha256:…"
  ImageRef: string; // the reference the user gave ("busybox")
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /** Stopped by the user (stop/kill): restart policies leave it down. */
  ManuallyStopped: boolean;
  HasBeenStarted: boolean;
  LogPath: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  /** Per-network endpoint settings asked for (aliases, address, MAC), by network name. */
  EndpointsConfig?: Record<string, { Aliases?: string[]; IPv4Address?: string; MacAddress?: string }>;
  /** `docker network disconnect` took the container off its --network (HostConfig.NetworkMode keeps the name, as dockerd's). */
  PrimaryNetworkDetached?: boolean;
  /** Binds, volumes and tmpfs as parsed at create (volume names filled in). */
  MountPoints?: ParsedMount[];
  /** The same with their host sources, as inspect's Mounts and --volumes-from use them. */
  ResolvedMounts?: ResolvedMount[];
}

export function initialState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
  };
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(readonly containersDir: string) {}

  dir(id: string): string {
    return path.join(this.containersDir, id);
  }

  /** Rebuild the index from disk; a directory without a readable record is a half-created container: removed. */
  async load(): Promise<ContainerRecord[]> {
    await fs.mkdir(this.containersDir, { recursive: true, mode: 0o710 });
    await shareWithRemappedRoot(this.containersDir);
    for (const id of await fs.readdir(this.containersDir)) {
      await removeStaleTemps(path.join(this.containersDir, id));
      const file = path.join(this.containersDir, id, 'config.v2.json');
      let record: ContainerRecord | undefined;
      try {
        record = await readJson<ContainerRecord>(file);
      } catch (err) {
        log.warn('unreadable container record, removing it', { id, error: String(err) });
      }
      if (!record || record.Id !== id) {
        await fs.rm(path.join(this.containersDir, id), { recursive: true, force: true });
        continue;
      }
      this.byId.set(id, record);
      this.byName.set(record.Name, id);
    }
    return [...this.byId.values()];
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  nameTaken(name: string): string | undefined {
    return this.byName.get(name);
  }

  /** dockerd's lookup: full id, then exact name, then unique id prefix. */
  find(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.byName.get(ref.startsWith('/') ? ref : `/${ref}`);
    if (byName) return this.byId.get(byName);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
    if (matches.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`);
    return matches.length === 1 ? this.byId.get(matches[0]) : undefined;
  }

  get(ref: string): ContainerRecord {
    const record = this.find(ref);
    if (!record) throw notFound(`No such container: ${ref}`);
    return record;
  }

  async add(record: ContainerRecord): Promise<void> {
    await fs.mkdir(this.dir(record.Id), { recursive: true, mode: 0o710 });
    await shareWithRemappedRoot(this.dir(record.Id));
    this.byId.set(record.Id, record);
    this.byName.set(record.Name, record.Id);
    await this.save(record);
  }

  async save(record: ContainerRecord): Promise<void> {
    if (!this.byId.has(record.Id)) return; // removed meanwhile
    await writeJsonAtomic(path.join(this.dir(record.Id), 'config.v2.json'), record);
  }

  async rename(record: ContainerRecord, newName: string): Promise<void> {
    this.byName.delete(record.Name);
    record.Name = newName;
    this.byName.set(newName, record.Id);
    await this.save(record);
  }

  async remove(id: string): Promise<void> {
    const record = this.byId.get(id);
    if (!record) return;
    this.byId.delete(id);
    this.byName.delete(record.Name);
    await fs.rm(this.dir(id), { recursive: true, force: true });
  }
}

export type EndpointRequest = NonNullable<ContainerRecord['EndpointsConfig']>[string];

/**
 * The user networks a container is attached to, its --network first: what it
 * joins at start and what inspect lists before then. Empty for host, none and
 * container: modes.
 */
export function attachedNetworks(record: ContainerRecord): Array<[string, EndpointRequest]> {
  const mode = record.HostConfig.NetworkMode ?? 'bridge';
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) return [];
  const out: Array<[string, EndpointRequest]> = [];
  if (!record.PrimaryNetworkDetached) out.push([mode, record.EndpointsConfig?.[mode] ?? {}]);
  for (const [name, cfg] of Object.entries(record.EndpointsConfig ?? {}))
    if (name !== mode) out.push([name, cfg]);
  return out;
}
