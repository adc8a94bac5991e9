// The engine's event stream (`GET /events`): a bounded in-memory history for
// since/until replays plus live subscribers, as dockerd keeps it.
import type { EngineEvent } from '../../common/engine-api.js';
import type { Filters } from './filters.js';

const HISTORY_LIMIT = 1024;

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
      Actor: { ID: id, Attributes: attributes },
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

/** dockerd's event filters: type, event/action, container, image, label, … */
export function eventMatches(event: EngineEvent, filters: Filters): boolean {
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    const attrs = event.Actor.Attributes;
    switch (key) {
      case 'type':
        if (!values.includes(event.Type)) return false;
        break;
      case 'event':
        // "exec_start" matches "exec_start: sh -c …" as in dockerd.
        if (!values.some((v) => event.Action === v || event.Action.startsWith(`${v}:`))) return false;
        break;
      case 'container':
        if (event.Type !== 'container') return false;
        if (!values.some((v) => event.Actor.ID === v || event.Actor.ID.startsWith(v) || attrs.name === v))
          return false;
        break;
      case 'image':
        if (!values.some((v) => attrs.image === v || event.Actor.ID === v || attrs.name === v)) return false;
        break;
      case 'label': {
        const ok = values.every((w) => {
          const eq = w.indexOf('=');
          return eq < 0 ? w in attrs : attrs[w.slice(0, eq)] === w.slice(eq + 1);
        });
        if (!ok) return false;
        break;
      }
      case 'network':
      case 'volume':
        if (event.Type !== key) return false;
        if (!values.some((v) => event.Actor.ID === v || attrs.name === v)) return false;
        break;
      case 'scope':
        if (!values.includes('local')) return false;
        break;
      default:
        break;
    }
  }
  return true;
}
