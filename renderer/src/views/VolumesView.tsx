// Volumes: name, size, who uses them; create, remove, prune.
import { useState } from 'react';
import { act } from '../actions.js';
import { bytes } from '../format.js';
import { useCall, useVanilla } from '../hooks.js';
import { versions } from '../live.js';

export function VolumesView() {
  const version = useVanilla(versions, (v) => v.volumes);
  const { data, error, reload } = useCall('volumes.list', {}, [version]);
  const [name, setName] = useState('');
  return (
    <section className="view" aria-labelledby="volumes-title">
      <header className="view-head">
        <h1 id="volumes-title">Volumes</h1>
        <form
          className="toolbar"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!name.trim()) return;
            await act('volumes.create', { name: name.trim() }, `Volume ${name} created`);
            setName('');
            reload();
          }}
        >
          <input
            aria-label="New volume name"
            placeholder="new volume name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit">Create</button>
          <button
            type="button"
            onClick={async () => {
              if (confirm('Remove every volume no container uses?'))
                await act('volumes.prune', {}, 'Unused volumes removed');
              reload();
            }}
          >
            Prune unused
          </button>
        </form>
      </header>
      {error && <p className="error">{error}</p>}
      <table className="table" aria-label="Volumes">
        <thead>
          <tr>
            <th>Name</th>
            <th>Driver</th>
            <th>Size</th>
            <th>Used by</th>
            <th>Mount point</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((v) => (
            <tr key={v.name}>
              <td className="mono">{v.name}</td>
              <td>{v.driver}</td>
              <td>{bytes(v.size)}</td>
              <td>{v.usedBy.join(', ') || <span className="muted">unused</span>}</td>
              <td className="mono ellipsis" title={v.mountpoint}>
                {v.mountpoint}
              </td>
              <td className="actions">
                {v.mountedAt[0] ? (
                  <a
                    className="button"
                    aria-label={`Browse volume ${v.name}`}
                    title={`In ${v.mountedAt[0].container} at ${v.mountedAt[0].destination}`}
                    href={`#/containers/${v.mountedAt[0].containerId}/files${v.mountedAt[0].destination
                      .split('/')
                      .map(encodeURIComponent)
                      .join('/')}`}
                  >
                    Browse
                  </a>
                ) : (
                  <span className="muted" title="Mount it in a container to browse it">
                    not mounted
                  </span>
                )}
                <button
                  type="button"
                  className="danger"
                  aria-label={`Remove volume ${v.name}`}
                  onClick={async () => {
                    if (confirm(`Remove volume ${v.name}?`))
                      await act('volumes.remove', { name: v.name }, 'Volume removed');
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
    </section>
  );
}
