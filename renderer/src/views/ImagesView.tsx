// Images: the list, pull with per-layer progress (cancellable), the run dialog
// (ports, volumes, env), history, remove and prune.
import { useEffect, useRef, useState } from 'react';
import type { ImageRow, PullMessage, RunRequest } from '../../../common/desktop-api.js';
import { act } from '../actions.js';
import { CallError, call, openStream } from '../api/client.js';
import { ago, bytes, shortId } from '../format.js';
import { go, useCall, useVanilla } from '../hooks.js';
import { versions } from '../live.js';
import { toasts } from '../stores/toasts.js';

export function ImagesView() {
  const version = useVanilla(versions, (v) => v.images);
  const { data, error, reload } = useCall('images.list', {}, [version]);
  const [running, setRunning] = useState<ImageRow | undefined>();
  const [history, setHistory] = useState<ImageRow | undefined>();
  return (
    <section className="view" aria-labelledby="images-title">
      <header className="view-head">
        <h1 id="images-title">Images</h1>
        <div className="toolbar">
          <Pull onDone={reload} />
          <button
            type="button"
            onClick={async () => {
              const r = await act('images.prune', {});
              if (r)
                toasts
                  .getState()
                  .push('info', `Pruned ${r.deleted} images, ${bytes(r.spaceReclaimed)} freed`);
              reload();
            }}
          >
            Prune dangling
          </button>
        </div>
      </header>
      {error && <p className="error">{error}</p>}
      <table className="table" aria-label="Images">
        <thead>
          <tr>
            <th>Tags</th>
            <th>ID</th>
            <th>Size</th>
            <th>Created</th>
            <th>In use</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((i) => (
            <tr key={i.id}>
              <td>{i.tags.length ? i.tags.join(', ') : <span className="muted">&lt;none&gt;</span>}</td>
              <td className="mono">{shortId(i.id)}</td>
              <td>{bytes(i.size)}</td>
              <td>{ago(i.created)}</td>
              <td>{i.containers || ''}</td>
              <td className="actions">
                <button
                  type="button"
                  aria-label={`Run ${i.tags[0] ?? shortId(i.id)}`}
                  onClick={() => setRunning(i)}
                >
                  Run
                </button>
                <button
                  type="button"
                  aria-label={`History of ${i.tags[0] ?? shortId(i.id)}`}
                  onClick={() => setHistory(i)}
                >
                  History
                </button>
                <button
                  type="button"
                  className="danger"
                  aria-label={`Remove ${i.tags[0] ?? shortId(i.id)}`}
                  onClick={async () => {
                    if (!confirm(`Remove ${i.tags[0] ?? shortId(i.id)}?`)) return;
                    await act('images.remove', { id: i.tags[0] ?? i.id }, 'Image removed');
                    reload();
                  }}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {running && <RunDialog image={running} onClose={() => setRunning(undefined)} />}
      {history && <HistoryDialog image={history} onClose={() => setHistory(undefined)} />}
    </section>
  );
}

function Pull({ onDone }: { onDone(): void }) {
  const [ref, setRef] = useState('');
  const [layers, setLayers] = useState<Record<string, PullMessage & { type: 'progress' }>>({});
  const [state, setState] = useState<'idle' | 'pulling'>('idle');
  const ws = useRef<WebSocket>(undefined);
  function start() {
    if (!ref.trim()) return;
    setLayers({});
    setState('pulling');
    ws.current = openStream<PullMessage>(`/ws/pull?image=${encodeURIComponent(ref.trim())}`, {
      onMessage(m) {
        if (m.type === 'progress') setLayers((l) => ({ ...l, [m.id ?? m.status]: m }));
        else if (m.type === 'done') {
          toasts.getState().push('info', `Pulled ${ref}`);
          onDone();
        } else toasts.getState().push('error', `Pull of ${ref} failed: ${m.message}`);
      },
      onClose: () => setState('idle'),
    });
  }
  return (
    <div className="pull">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <input
          aria-label="Image to pull"
          placeholder="image:tag to pull"
          value={ref}
          onChange={(e) => setRef(e.target.value)}
        />
        {state === 'pulling' ? (
          <button type="button" onClick={() => ws.current?.close()}>
            Cancel
          </button>
        ) : (
          <button type="submit">Pull</button>
        )}
      </form>
      {state === 'pulling' && (
        <ul className="progress-list" aria-label="Pull progress">
          {Object.entries(layers).map(([k, l]) => (
            <li key={k}>
              <span className="mono">{l.id ?? ''}</span> {l.status}{' '}
              {l.total ? (
                <progress max={l.total} value={l.current ?? 0} aria-label={`Layer ${l.id}`} />
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

interface Kv {
  a: string;
  b: string;
}

export function RunDialog({ image, onClose }: { image: ImageRow; onClose(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [name, setName] = useState('');
  const [command, setCommand] = useState('');
  const [ports, setPorts] = useState<Kv[]>([]);
  const [env, setEnv] = useState<Kv[]>([]);
  const [vols, setVols] = useState<Kv[]>([]);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const ref = image.tags[0] ?? image.id;

  async function submit() {
    const req: RunRequest = {
      image: ref,
      name: name.trim() || undefined,
      command: command.trim() || undefined,
      ports: ports.map((p) => {
        const [num, proto] = p.b.split('/');
        return {
          hostPort: p.a.trim() ? Number(p.a) : undefined,
          containerPort: Number(num),
          protocol: (proto || 'tcp') as 'tcp' | 'udp',
        };
      }),
      env: env.map((e) => ({ key: e.a.trim(), value: e.b })),
      volumes: vols.map((v) => {
        const [target, mode] = v.b.split(':');
        return { source: v.a.trim(), target, readOnly: mode === 'ro' };
      }),
    };
    setBusy(true);
    try {
      const { id } = await call('images.run', req);
      toasts.getState().push('info', `Started ${name || shortId(id)}`);
      onClose();
      go('containers', id, 'logs');
    } catch (err) {
      setFields(err instanceof CallError ? (err.fields ?? {}) : {});
      toasts.getState().push('error', (err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const rows = (label: string, list: Kv[], set: (l: Kv[]) => void, key: string, pa: string, pb: string) => (
    <fieldset>
      <legend>{label}</legend>
      {list.map((r, i) => (
        <div key={i} className="kv">
          <input
            aria-label={`${label} ${i + 1} ${pa}`}
            placeholder={pa}
            value={r.a}
            onChange={(e) => set(list.map((x, j) => (j === i ? { ...x, a: e.target.value } : x)))}
          />
          <input
            aria-label={`${label} ${i + 1} ${pb}`}
            placeholder={pb}
            value={r.b}
            onChange={(e) => set(list.map((x, j) => (j === i ? { ...x, b: e.target.value } : x)))}
          />
          <button
            type="button"
            className="ghost"
            aria-label={`Remove ${label} ${i + 1}`}
            onClick={() => set(list.filter((_, j) => j !== i))}
          >
            ×
          </button>
          {Object.entries(fields)
            .filter(([f]) => f.startsWith(`${key}.${i}.`))
            .map(([f, m]) => (
              <span key={f} className="field-error" role="alert">
                {m}
              </span>
            ))}
        </div>
      ))}
      <button type="button" onClick={() => set([...list, { a: '', b: '' }])}>
        Add {label.toLowerCase().replace(/s$/, '')}
      </button>
    </fieldset>
  );

  return (
    <dialog ref={dialog} aria-labelledby="run-title" onClose={onClose} className="dialog">
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2 id="run-title">Run {ref}</h2>
        <label>
          Container name (optional)
          <input aria-label="Container name" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        {fields.name && <span className="field-error">{fields.name}</span>}
        <label>
          Command (optional)
          <input
            aria-label="Command"
            value={command}
            placeholder="the image's default"
            onChange={(e) => setCommand(e.target.value)}
          />
        </label>
        {fields.command && <span className="field-error">{fields.command}</span>}
        {rows('Ports', ports, setPorts, 'ports', 'host port (empty: any)', 'container port[/udp]')}
        {rows('Volumes', vols, setVols, 'volumes', 'host path or volume', 'container path[:ro]')}
        {rows('Environment variables', env, setEnv, 'env', 'NAME', 'value')}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Starting…' : 'Run'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

function HistoryDialog({ image, onClose }: { image: ImageRow; onClose(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const { data, error } = useCall('images.history', { id: image.id }, [image.id]);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="hist-title" onClose={onClose} className="dialog wide">
      <h2 id="hist-title">History of {image.tags[0] ?? shortId(image.id)}</h2>
      {error && <p className="error">{error}</p>}
      <table className="table">
        <thead>
          <tr>
            <th>Created by</th>
            <th>Size</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((h, i) => (
            <tr key={i}>
              <td className="mono ellipsis" title={h.createdBy}>
                {h.createdBy}
              </td>
              <td>{bytes(h.size)}</td>
              <td>{ago(h.created)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
