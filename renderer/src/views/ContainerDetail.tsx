// One container: its header and actions, and the tabs (Logs, Inspect,
// Terminal, Stats, Files, Isolation), switched by arrow keys as a tablist.
import type { KeyboardEvent } from 'react';
import { act } from '../actions.js';
import { shortId } from '../format.js';
import { go, useVanilla } from '../hooks.js';
import { containersStore } from '../live.js';
import { LogsTab } from './tabs/LogsTab.js';
import { InspectTab } from './tabs/InspectTab.js';
import { TerminalTab } from './tabs/TerminalTab.js';
import { StatsTab } from './tabs/StatsTab.js';
import { FilesTab } from './tabs/FilesTab.js';
import { IsolationTab } from './tabs/IsolationTab.js';

const TABS = [
  ['logs', 'Logs'],
  ['inspect', 'Inspect'],
  ['terminal', 'Terminal'],
  ['stats', 'Stats'],
  ['files', 'Files'],
  ['isolation', 'Isolation'],
] as const;

export function ContainerDetail({ id, tab, path }: { id: string; tab: string; path?: string }) {
  const row = useVanilla(
    containersStore,
    (s) => s.rows[id] ?? Object.values(s.rows).find((r) => r.name === id),
  );
  const connected = useVanilla(containersStore, (s) => s.connected);
  const cid = row?.id ?? id;

  function onTabKey(e: KeyboardEvent) {
    const i = TABS.findIndex(([k]) => k === tab);
    let next = i;
    if (e.key === 'ArrowRight') next = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    else return;
    e.preventDefault();
    go('containers', id, TABS[next][0]);
    requestAnimationFrame(() => document.getElementById(`tab-${TABS[next][0]}`)?.focus());
  }

  if (!row && connected)
    return (
      <section className="view">
        <p>
          The container {shortId(id)} is gone. <a href="#/containers">Back to the list</a>
        </p>
      </section>
    );
  return (
    <section className="view detail" aria-labelledby="detail-title">
      <header className="view-head">
        <div>
          <a href="#/containers" className="muted">
            ← Containers
          </a>
          <h1 id="detail-title">
            <span className={`state-dot ${row?.state ?? ''}`} aria-hidden="true" /> {row?.name ?? shortId(id)}
          </h1>
          <span className="muted" data-testid="detail-state">
            {row?.image} · {row?.state} · {row?.status}
          </span>
        </div>
        {row && (
          <div className="toolbar">
            {row.state === 'running' ? (
              <button type="button" onClick={() => void act('containers.stop', { id: cid })}>
                Stop
              </button>
            ) : (
              <button type="button" onClick={() => void act('containers.start', { id: cid })}>
                Start
              </button>
            )}
            <button type="button" onClick={() => void act('containers.restart', { id: cid })}>
              Restart
            </button>
            <button
              type="button"
              className="danger"
              onClick={async () => {
                if (!confirm(`Delete ${row.name}?`)) return;
                if (
                  (await act('containers.remove', { id: cid, force: true }, `${row.name} deleted`)) !==
                  undefined
                )
                  go('containers');
              }}
            >
              Delete
            </button>
          </div>
        )}
      </header>
      <div role="tablist" aria-label="Container details" className="tabs" onKeyDown={onTabKey}>
        {TABS.map(([key, label]) => (
          <button
            key={key}
            id={`tab-${key}`}
            type="button"
            role="tab"
            aria-selected={tab === key}
            aria-controls={`panel-${key}`}
            tabIndex={tab === key ? 0 : -1}
            onClick={() => go('containers', id, key)}
          >
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tabpanel">
        {tab === 'logs' && <LogsTab id={cid} key={cid} />}
        {tab === 'inspect' && <InspectTab id={cid} />}
        {tab === 'terminal' && <TerminalTab id={cid} running={row?.state === 'running'} key={cid} />}
        {tab === 'stats' && <StatsTab id={cid} />}
        {tab === 'files' && <FilesTab id={cid} start={path} key={path} />}
        {tab === 'isolation' && <IsolationTab id={cid} />}
      </div>
    </section>
  );
}
