// The containers list: live, grouped by compose project, virtualised (500
// containers scroll smoothly), with search, a state filter and bulk actions.
import { useMemo, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { ContainerRow } from '../../../common/desktop-api.js';
import { act, copyText } from '../actions.js';
import { call } from '../api/client.js';
import { bytes, shortId } from '../format.js';
import { go, useVanilla } from '../hooks.js';
import { containersStore } from '../live.js';
import { isRunning, visibleGroups, type StateFilter } from '../stores/containers.js';

type Item =
  { kind: 'group'; project?: string; count: number; running: number } | { kind: 'row'; row: ContainerRow };

export function ContainersView() {
  const rows = useVanilla(containersStore, (s) => s.rows);
  const text = useVanilla(containersStore, (s) => s.text);
  const stateFilter = useVanilla(containersStore, (s) => s.stateFilter);
  const selected = useVanilla(containersStore, (s) => s.selected);
  const connected = useVanilla(containersStore, (s) => s.connected);
  const { setText, setStateFilter, setSelected } = containersStore.getState();
  const groups = useMemo(() => visibleGroups({ rows, text, stateFilter }), [rows, text, stateFilter]);
  const items = useMemo(() => {
    const out: Item[] = [];
    for (const g of groups) {
      if (g.project)
        out.push({ kind: 'group', project: g.project, count: g.rows.length, running: g.running });
      else if (groups.length > 1) out.push({ kind: 'group', count: g.rows.length, running: g.running });
      for (const row of g.rows) out.push({ kind: 'row', row });
    }
    return out;
  }, [groups]);
  const visibleIds = items.flatMap((i) => (i.kind === 'row' ? [i.row.id] : []));
  const selectedIds = Object.keys(selected);
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 48,
    overscan: 10,
  });

  async function bulk(
    method: 'containers.start' | 'containers.stop' | 'containers.restart' | 'containers.remove',
    label: string,
  ) {
    const ids = selectedIds;
    const results = await Promise.allSettled(
      ids.map((id) =>
        method === 'containers.remove' ? call(method, { id, force: true }) : call(method, { id }),
      ),
    );
    const failed = results.filter((r) => r.status === 'rejected').length;
    await act(
      'containers.list',
      {},
      `${label}: ${ids.length - failed} done${failed ? `, ${failed} failed` : ''}`,
    );
    if (method === 'containers.remove') setSelected([]);
  }

  return (
    <section className="view containers-view" aria-labelledby="containers-title">
      <header className="view-head">
        <div>
          <h1 id="containers-title">Containers</h1>
          <span className="muted" data-testid="containers-count">
            {Object.keys(rows).length} containers, {Object.values(rows).filter(isRunning).length} running
          </span>
        </div>
        <div className="toolbar">
          <input
            type="search"
            placeholder="Search by name, image, project, port…"
            aria-label="Search containers"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <select
            aria-label="Show containers"
            value={stateFilter}
            onChange={(e) => setStateFilter(e.target.value as StateFilter)}
          >
            <option value="all">All</option>
            <option value="running">Running</option>
            <option value="stopped">Stopped</option>
          </select>
        </div>
      </header>
      {selectedIds.length > 0 && (
        <div className="bulkbar" role="toolbar" aria-label="Selected containers">
          <span>{selectedIds.length} selected</span>
          <button type="button" onClick={() => void bulk('containers.start', 'Start')}>
            Start
          </button>
          <button type="button" onClick={() => void bulk('containers.stop', 'Stop')}>
            Stop
          </button>
          <button type="button" onClick={() => void bulk('containers.restart', 'Restart')}>
            Restart
          </button>
          <button
            type="button"
            className="danger"
            onClick={() => {
              if (confirm(`Delete ${selectedIds.length} containers?`))
                void bulk('containers.remove', 'Delete');
            }}
          >
            Delete
          </button>
          <button type="button" className="ghost" onClick={() => setSelected([])}>
            Clear
          </button>
        </div>
      )}
      <div className="list-head" role="presentation">
        <input
          type="checkbox"
          aria-label="Select all shown containers"
          checked={visibleIds.length > 0 && visibleIds.every((id) => selected[id])}
          onChange={(e) => setSelected(e.target.checked ? visibleIds : [])}
        />
        <span>Name</span>
        <span>Image</span>
        <span>Ports</span>
        <span>CPU</span>
        <span>Memory</span>
        <span>Actions</span>
      </div>
      <div ref={scroller} className="list-scroll" role="list" aria-label="Containers" aria-busy={!connected}>
        {items.length === 0 && (
          <p className="empty">
            {connected
              ? text
                ? 'No container matches the search.'
                : 'No containers yet. Run one from Images, or with docker run.'
              : 'Connecting to the engine…'}
          </p>
        )}
        <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
          {virtual.getVirtualItems().map((v) => {
            const item = items[v.index];
            return (
              <div
                key={item.kind === 'row' ? item.row.id : `g:${item.project}`}
                className={item.kind === 'row' ? 'crow' : 'cgroup'}
                role="listitem"
                style={{
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  right: 0,
                  height: v.size,
                  transform: `translateY(${v.start}px)`,
                }}
              >
                {item.kind === 'group' ? (
                  <GroupHeader project={item.project} count={item.count} running={item.running} />
                ) : (
                  <Row row={item.row} selected={Boolean(selected[item.row.id])} />
                )}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}

function GroupHeader({ project, count, running }: { project?: string; count: number; running: number }) {
  if (!project)
    return (
      <>
        <span className="group-name">Other containers</span>
        <span className="muted">
          {running}/{count} running
        </span>
      </>
    );
  return (
    <>
      <span className="group-name" data-project={project}>
        ▾ {project}
      </span>
      <span className="muted">
        compose project · {running}/{count} running
      </span>
      <a href="#/compose" className="muted">
        manage
      </a>
    </>
  );
}

function Row({ row, selected }: { row: ContainerRow; selected: boolean }) {
  const sample = useVanilla(containersStore, (s) => s.stats[row.id]?.at(-1));
  const running = isRunning(row);
  const open = () => go('containers', row.id, 'logs');
  return (
    <>
      <input
        type="checkbox"
        aria-label={`Select ${row.name}`}
        checked={selected}
        onChange={() => containersStore.getState().toggleSelected(row.id)}
      />
      <span className="cname">
        <span>
          <span className={`state-dot ${row.state}`} aria-hidden="true" />
          <a
            href={`#/containers/${row.id}/logs`}
            data-testid="container-name"
            onKeyDown={(e) => {
              if (e.key === 'Enter') open();
            }}
          >
            {row.name}
          </a>
        </span>
        <span className="muted state-text" data-state={row.state}>
          {row.state} · {shortId(row.id)}
        </span>
      </span>
      <span className="ellipsis" title={row.image}>
        {row.image}
      </span>
      <span className="ports">
        {row.ports
          .filter((p) => p.publicPort)
          .map((p) => (
            <a
              key={`${p.publicPort}/${p.type}`}
              href={`http://localhost:${p.publicPort}`}
              target="_blank"
              rel="noreferrer"
              aria-label={`Open port ${p.publicPort} in the browser`}
            >
              {p.publicPort}:{p.privatePort}
              {p.type !== 'tcp' ? `/${p.type}` : ''}
            </a>
          ))}
      </span>
      <span data-testid="cpu">{running && sample ? `${sample.cpuPercent.toFixed(1)} %` : '–'}</span>
      <span data-testid="memory">{running && sample ? bytes(sample.memUsage) : '–'}</span>
      <span className="actions">
        {row.state === 'running' ? (
          <button
            type="button"
            aria-label={`Stop ${row.name}`}
            title="Stop"
            onClick={() => void act('containers.stop', { id: row.id })}
          >
            ■
          </button>
        ) : row.state === 'paused' ? (
          <button
            type="button"
            aria-label={`Resume ${row.name}`}
            title="Resume"
            onClick={() => void act('containers.unpause', { id: row.id })}
          >
            ▶
          </button>
        ) : (
          <button
            type="button"
            aria-label={`Start ${row.name}`}
            title="Start"
            onClick={() => void act('containers.start', { id: row.id })}
          >
            ▶
          </button>
        )}
        <button
          type="button"
          aria-label={`Restart ${row.name}`}
          title="Restart"
          onClick={() => void act('containers.restart', { id: row.id })}
        >
          ↻
        </button>
        {row.state === 'running' && (
          <button
            type="button"
            aria-label={`Pause ${row.name}`}
            title="Pause"
            onClick={() => void act('containers.pause', { id: row.id })}
          >
            ❚❚
          </button>
        )}
        <button
          type="button"
          aria-label={`Copy docker run line of ${row.name}`}
          title="Copy docker run"
          onClick={async () => {
            const line = await act('containers.runLine', { id: row.id });
            if (line) await copyText(line, 'docker run line');
          }}
        >
          Copy
        </button>
        <button
          type="button"
          className="danger"
          aria-label={`Delete ${row.name}`}
          title="Delete"
          onClick={() => {
            if (confirm(`Delete ${row.name}${running ? ' (it is running: it will be killed)' : ''}?`))
              void act('containers.remove', { id: row.id, force: true }, `${row.name} deleted`);
          }}
        >
          ✕
        </button>
      </span>
    </>
  );
}
