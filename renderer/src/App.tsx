// The dashboard's frame: navigation, the current view by the hash route, the
// theme, and the toasts' live region.
import { lazy, Suspense, useEffect, useState } from 'react';
import { useHash, useVanilla } from './hooks.js';
import { toasts, type Toast } from './stores/toasts.js';
import { containersStore } from './live.js';
import { ContainersView } from './views/ContainersView.js';

// The list is what opens first: every other view (the detail's terminal brings xterm.js,
// its stats the charts) is a chunk of its own, fetched when first shown.
const ContainerDetail = lazy(() =>
  import('./views/ContainerDetail.js').then((m) => ({ default: m.ContainerDetail })),
);
const ImagesView = lazy(() => import('./views/ImagesView.js').then((m) => ({ default: m.ImagesView })));
const VolumesView = lazy(() => import('./views/VolumesView.js').then((m) => ({ default: m.VolumesView })));
const NetworksView = lazy(() => import('./views/NetworksView.js').then((m) => ({ default: m.NetworksView })));
const ComposeView = lazy(() => import('./views/ComposeView.js').then((m) => ({ default: m.ComposeView })));
const SettingsView = lazy(() => import('./views/SettingsView.js').then((m) => ({ default: m.SettingsView })));
const MachineView = lazy(() => import('./views/MachineView.js').then((m) => ({ default: m.MachineView })));

const NAV = [
  ['containers', 'Containers'],
  ['images', 'Images'],
  ['volumes', 'Volumes'],
  ['networks', 'Networks'],
  ['compose', 'Compose'],
  ['machine', 'Machine'],
  ['settings', 'Settings'],
] as const;

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const stored = localStorage.getItem('berth-theme');
  if (stored === 'light' || stored === 'dark') return stored;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function App() {
  const route = useHash();
  const [view = 'containers', id, tab, ...rest] = route;
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const connected = useVanilla(containersStore, (s) => s.connected);
  const engineError = useVanilla(containersStore, (s) => s.engineError);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('berth-theme', theme);
  }, [theme]);

  let body;
  if (view === 'containers' && id)
    body = (
      <ContainerDetail id={id} tab={tab ?? 'logs'} path={rest.length ? `/${rest.join('/')}` : undefined} />
    );
  else if (view === 'images') body = <ImagesView />;
  else if (view === 'volumes') body = <VolumesView />;
  else if (view === 'networks') body = <NetworksView />;
  else if (view === 'compose') body = <ComposeView />;
  else if (view === 'settings') body = <SettingsView onTheme={(t) => setTheme(t)} />;
  else if (view === 'machine') body = <MachineView />;
  else body = <ContainersView />;

  return (
    <div className="app">
      <nav className="sidebar" aria-label="Main">
        <div className="brand" aria-hidden="true">
          ⚓ Berth
        </div>
        <ul>
          {NAV.map(([key, label]) => (
            <li key={key}>
              <a href={`#/${key}`} aria-current={view === key ? 'page' : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
        <div className="sidebar-foot">
          <span
            className={`engine-dot ${connected ? 'ok' : 'down'}`}
            role="status"
            aria-label={
              connected ? 'Engine connected' : `Engine not connected${engineError ? `: ${engineError}` : ''}`
            }
            title={engineError}
          />
          {connected ? 'Engine running' : 'Engine not connected'}
          <button
            type="button"
            className="ghost"
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </nav>
      <main className="content">
        <Suspense
          fallback={
            <p className="muted" role="status">
              Loading…
            </p>
          }
        >
          {body}
        </Suspense>
      </main>
      <Toasts />
    </div>
  );
}

function Toasts() {
  const list = useVanilla(toasts, (s) => s.toasts);
  return (
    <div className="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <ToastItem key={t.id} toast={t} />
      ))}
    </div>
  );
}

/** One message; it goes by itself after a while (errors stay longer). */
function ToastItem({ toast }: { toast: Toast }) {
  useEffect(() => {
    const t = setTimeout(() => toasts.getState().dismiss(toast.id), toast.kind === 'error' ? 10_000 : 5000);
    return () => clearTimeout(t);
  }, [toast]);
  return (
    <div className={`toast ${toast.kind}`}>
      {toast.text}
      <button
        type="button"
        className="ghost"
        aria-label="Dismiss"
        onClick={() => toasts.getState().dismiss(toast.id)}
      >
        ×
      </button>
    </div>
  );
}
