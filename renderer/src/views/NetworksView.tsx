// Networks: driver, subnets, attached containers; create and remove.
import { useState } from 'react';
import { act } from '../actions.js';
import { shortId } from '../format.js';
import { useCall, useVanilla } from '../hooks.js';
import { versions } from '../live.js';

const BUILTIN = new Set(['bridge', 'host', 'none']);

export function NetworksView() {
  const version = useVanilla(versions, (v) => v.networks);
  const { data, error, reload } = useCall('networks.list', {}, [version]);
  const [name, setName] = useState('');
  return (
    <section className="view" aria-labelledby="networks-title">
      <header className="view-head">
        <h1 id="networks-title">Networks</h1>
        <form
          className="toolbar"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!name.trim()) return;
            await act('networks.create', { name: name.trim() }, `Network ${name} created`);
            setName('');
            reload();
          }}
        >
          <input
            aria-label="New network name"
            placeholder="new network name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit">Create</button>
        </form>
      </header>
      {error && <p className="error">{error}</p>}
      <table className="table" aria-label="Networks">
        <thead>
          <tr>
            <th>Name</th>
            <th>ID</th>
            <th>Driver</th>
            <th>Subnet</th>
            <th>Gateway</th>
            <th>Containers</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((n) => (
            <tr key={n.id}>
              <td>{n.name}</td>
              <td className="mono">{shortId(n.id)}</td>
              <td>
                {n.driver}
                {n.internal ? ' (internal)' : ''}
              </td>
              <td className="mono">{n.subnets.join(', ')}</td>
              <td className="mono">{n.gateways.join(', ')}</td>
              <td>{n.containers.join(', ')}</td>
              <td>
                {!BUILTIN.has(n.name) && (
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Remove network ${n.name}`}
                    onClick={async () => {
                      if (confirm(`Remove network ${n.name}?`))
                        await act('networks.remove', { id: n.id }, 'Network removed');
                      reload();
                    }}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
