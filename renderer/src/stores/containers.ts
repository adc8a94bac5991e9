// The containers list as the dashboard holds it: rows kept current by the live
// feed, a stats history per container, the search/filter and the selection for
// bulk actions. Pure zustand (no DOM), so it is unit-tested under Node.
import { createStore } from 'zustand/vanilla';
import type { ContainerRow, LiveMessage, StatsSample } from '../../../common/desktop-api.js';

/** Samples kept per container: two minutes at one a second. */
export const STATS_HISTORY = 120;

export type StateFilter = 'all' | 'running' | 'stopped';

export interface ContainersState {
  rows: Record<string, ContainerRow>;
  stats: Record<string, StatsSample[]>;
  /** False until the first list arrives, and while the engine is down. */
  connected: boolean;
  engineError?: string;
  text: string;
  stateFilter: StateFilter;
  selected: Record<string, true>;
  apply(m: LiveMessage): void;
  setText(text: string): void;
  setStateFilter(f: StateFilter): void;
  toggleSelected(id: string): void;
  setSelected(ids: string[]): void;
}

export interface ContainerGroup {
  /** The compose project, or undefined for containers of no project. */
  project?: string;
  rows: ContainerRow[];
  running: number;
}

export function createContainersStore() {
  return createStore<ContainersState>()((set) => ({
    rows: {},
    stats: {},
    connected: false,
    text: '',
    stateFilter: 'all',
    selected: {},
    apply: (m) =>
      set((s) => {
        switch (m.type) {
          case 'containers': {
            const rows: Record<string, ContainerRow> = {};
            for (const r of m.rows) rows[r.id] = r;
            return { rows, connected: true, engineError: undefined, selected: keep(s.selected, rows) };
          }
          case 'container':
            return { rows: { ...s.rows, [m.row.id]: m.row } };
          case 'container-removed': {
            if (!s.rows[m.id]) return {};
            const rows = { ...s.rows };
            delete rows[m.id];
            const stats = { ...s.stats };
            delete stats[m.id];
            return { rows, stats, selected: keep(s.selected, rows) };
          }
          case 'stats': {
            const stats = { ...s.stats };
            for (const sample of m.samples) {
              const prev = stats[sample.id] ?? [];
              stats[sample.id] = [...prev.slice(-(STATS_HISTORY - 1)), sample];
            }
            return { stats };
          }
          case 'engine-down':
            return { connected: false, engineError: m.message };
          default:
            return {};
        }
      }),
    setText: (text) => set({ text }),
    setStateFilter: (stateFilter) => set({ stateFilter }),
    toggleSelected: (id) =>
      set((s) => {
        const selected = { ...s.selected };
        if (selected[id]) delete selected[id];
        else selected[id] = true;
        return { selected };
      }),
    setSelected: (ids) => set({ selected: Object.fromEntries(ids.map((id) => [id, true as const])) }),
  }));
}

function keep(selected: Record<string, true>, rows: Record<string, ContainerRow>): Record<string, true> {
  return Object.fromEntries(
    Object.keys(selected)
      .filter((id) => rows[id])
      .map((id) => [id, true as const]),
  );
}

export function isRunning(r: ContainerRow): boolean {
  return r.state === 'running' || r.state === 'paused' || r.state === 'restarting';
}

/** Does a row match the search text (name, image, id, project, service, port)? */
export function matches(r: ContainerRow, text: string): boolean {
  const q = text.trim().toLowerCase();
  if (!q) return true;
  return (
    r.name.toLowerCase().includes(q) ||
    r.image.toLowerCase().includes(q) ||
    r.id.startsWith(q) ||
    (r.project ?? '').toLowerCase().includes(q) ||
    (r.service ?? '').toLowerCase().includes(q) ||
    r.ports.some((p) => String(p.publicPort ?? '') === q || String(p.privatePort) === q)
  );
}

/** The rows shown, grouped by compose project (projects by name first, then the rest), each sorted by name. */
export function visibleGroups(s: Pick<ContainersState, 'rows' | 'text' | 'stateFilter'>): ContainerGroup[] {
  const groups = new Map<string, ContainerGroup>();
  const loose: ContainerRow[] = [];
  for (const r of Object.values(s.rows)) {
    if (s.stateFilter === 'running' && !isRunning(r)) continue;
    if (s.stateFilter === 'stopped' && isRunning(r)) continue;
    if (!matches(r, s.text)) continue;
    if (r.project) {
      const g = groups.get(r.project) ?? { project: r.project, rows: [], running: 0 };
      g.rows.push(r);
      if (isRunning(r)) g.running++;
      groups.set(r.project, g);
    } else loose.push(r);
  }
  const byName = (a: ContainerRow, b: ContainerRow) => a.name.localeCompare(b.name);
  const out = [...groups.values()].sort((a, b) => a.project!.localeCompare(b.project!));
  for (const g of out) g.rows.sort(byName);
  if (loose.length) out.push({ rows: loose.sort(byName), running: loose.filter(isRunning).length });
  return out;
}
