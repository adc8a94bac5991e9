// The engine's event stream (`GET /events`): a bounded in-memory history for
// since/until replays plus live subscribers, as dockerd keeps it.
import type { EngineEvent } from '../../common/engine-api.js';
import type { Filters } from './filters.js';
import { familiarName, parseReference } from '../storage/reference.js';

const HISTORY_LIMIT = 1024;

const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);

export type EventListener = (event: EngineEvent) => void;

export class EventBus {
  private readonly history: EngineEvent[] = [];
  private readonly listeners = new Set<EventListener>();

  publish(
    type: EngineEvent['Type'],
    action: string,
    id: string,
    attributes: Record<string, string> = {},
  ): EngineEvent {
    const nowMs = Date.now();
    const nano = BigInt(nowMs) * 1_000_000n + BigInt(process.hrtime()[1] % 1_000_000);
    const event: EngineEvent = {
      Type: type,
      Action: action,
      // Sorted, as Go writes a map's keys.
      Actor: { ID: id, Attributes: Object.fromEntries(Object.entries(attributes).sort(byKey)) },
      scope: 'local',
      time: Math.floor(nowMs / 1000),
      timeNano: Number(nano),
    };
    // Legacy fields (removed in API 1.52) that docker-compose 1.29 still reads.
    if (type === 'container' || type === 'image') {
      event.status = action;
      event.id = id;
      if (type === 'container' && attributes.image) event.from = attributes.image;
    }
    this.history.push(event);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Events already recorded within [sinceNs, untilNs]. */
  replay(sinceNs: bigint | undefined, untilNs: bigint | undefined): EngineEvent[] {
    return this.history.filter((e) => {
      const t = BigInt(e.timeNano);
      return (sinceNs === undefined || t >= sinceNs) && (untilNs === undefined || t <= untilNs);
    });
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * dockerd's event filters (moby daemon/events/filter.go): values of one key
 * are alternatives, keys must all match. container, network, volume, daemon
 * (and the swarm kinds) match the actor's ID or name attribute by prefix,
 * whatever the event's type; image matches a container's image or an image
 * event's name, with or without its tag; label needs every key(=value).
 */
export function eventMatches(event: EngineEvent, filters: Filters): boolean {
  const wanted = (key: string) => filters.get(key) ?? [];
  const exact = (key: string, value: string) => wanted(key).length === 0 || wanted(key).includes(value);
  const fuzzy = (key: string, value: string) =>
    exact(key, value) || wanted(key).some((prefix) => value.startsWith(prefix));
  const attrs = event.Actor.Attributes;
  const byName = (key: string) => fuzzy(key, event.Actor.ID) || fuzzy(key, attrs.name ?? '');

  // health_status, exec_create and exec_start carry a suffix ("exec_start: sh"): matched by prefix.
  const actionMatches = wanted('event').some((v) =>
    ['health_status', 'exec_create', 'exec_start'].includes(v),
  )
    ? fuzzy('event', event.Action)
    : exact('event', event.Action);
  const imageName = (event.Type === 'image' ? attrs.name : attrs.image) ?? '';
  const imageMatches =
    exact('image', event.Actor.ID) ||
    exact('image', imageName) ||
    exact('image', stripTag(event.Actor.ID)) ||
    exact('image', stripTag(imageName));
  return (
    actionMatches &&
    exact('type', event.Type) &&
    exact('scope', event.scope) &&
    ['daemon', 'container', 'plugin', 'volume', 'network', 'node', 'service', 'secret', 'config'].every(
      byName,
    ) &&
    imageMatches &&
    labelsMatch(attrs, wanted('label'))
  );
}

function labelsMatch(attrs: Record<string, string>, wanted: string[]): boolean {
  if (wanted.length === 0) return true;
  if (Object.keys(attrs).length === 0) return false;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    const key = eq < 0 ? w : w.slice(0, eq);
    if (!Object.prototype.hasOwnProperty.call(attrs, key)) return false;
    return eq < 0 || attrs[key] === w.slice(eq + 1);
  });
}

/** "busybox:latest", "docker.io/library/busybox@sha256:…" → "busybox"; anything else unchanged. */
function stripTag(image: string): string {
  if (!image || /^(sha256:)?[0-9a-f]{64}$/.test(image)) return image;
  try {
    return familiarName(parseReference(image));
  } catch {
    return image;
  }
}
