// The engine's user-namespace remapping (--userns-remap), as ids go between a
// container and the host. With a remap, uid 0 in a container is a subordinate
// uid on the host (100000, say): everything the engine writes into image layers,
// volumes and container root filesystems is owned by the host ids, and every
// tar it makes from them (docker cp, export, commit, build) carries the
// container ids again. One engine per process, so the remap is set once at start.
import { promises as fs } from 'node:fs';
import { invalid } from '../errors.js';

/** One line of a uid_map: container ids [containerID, containerID+size) are host ids from hostID. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface IdMaps {
  uid: IdMapping[];
  gid: IdMapping[];
}

let current: IdMaps | undefined;

/** Set at engine start; undefined turns remapping off (the default: ids are the host's). */
export function setIdMaps(maps: IdMaps | undefined): void {
  current = maps;
}

export function idMaps(): IdMaps | undefined {
  return current;
}

function toHost(id: number, maps: IdMapping[]): number {
  for (const m of maps)
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  // dockerd refuses such a file too: it has no owner the container could name.
  throw invalid(`container id ${id} cannot be mapped to a host id: outside the --userns-remap range`);
}

function toContainer(id: number, maps: IdMapping[]): number {
  for (const m of maps) if (id >= m.hostID && id < m.hostID + m.size) return m.containerID + (id - m.hostID);
  // Not a subordinate id (a file the engine made as real root): left as it is.
  return id;
}

/** The host owner of a file a container (or an image layer) names with container ids. */
export function hostOwner(uid: number, gid: number): { uid: number; gid: number } {
  if (!current) return { uid, gid };
  return { uid: toHost(uid, current.uid), gid: toHost(gid, current.gid) };
}

/** The container ids of a file owned by host ids (for the tars the engine makes). */
export function containerOwner(uid: number, gid: number): { uid: number; gid: number } {
  if (!current) return { uid, gid };
  return { uid: toContainer(uid, current.uid), gid: toContainer(gid, current.gid) };
}

/** The host ids of container root (0:0 without a remap). */
export function remappedRoot(): { uid: number; gid: number } {
  return hostOwner(0, 0);
}

/**
 * Lets container root through an engine directory it must traverse (its
 * root filesystem, its /etc/hosts): group-owned by the remapped root's gid,
 * as dockerd does, so the 0710 modes stay closed to everyone else.
 */
export async function shareWithRemappedRoot(dir: string): Promise<void> {
  if (!current) return;
  await fs.chown(dir, 0, remappedRoot().gid);
}

/** Makes a directory container root's own (an upper dir: the container's "/"). */
export async function giveToRemappedRoot(dir: string): Promise<void> {
  if (!current) return;
  const root = remappedRoot();
  await fs.chown(dir, root.uid, root.gid);
}
