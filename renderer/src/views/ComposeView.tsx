// Compose projects (from their containers' labels): start, stop, restart, down, logs.
import { act } from '../actions.js';
import { useCall, useVanilla } from '../hooks.js';
import { containersStore } from '../live.js';

export function ComposeView() {
  const rows = useVanilla(containersStore, (s) => s.rows);
  const { data, error, reload } = useCall('compose.list', {}, [rows]);
  const action = async (project: string, a: 'up' | 'start' | 'stop' | 'restart' | 'down') => {
    if (a === 'down' && !confirm(`Take ${project} down (remove its containers and networks)?`)) return;
    await act('compose.action', { project, action: a }, `${project}: ${a} done`);
    reload();
  };
  return (
    <section className="view" aria-labelledby="compose-title">
      <header className="view-head">
        <h1 id="compose-title">Compose projects</h1>
      </header>
      {error && <p className="error">{error}</p>}
      {data?.length === 0 && <p className="muted">No compose projects. Start one with berth compose up.</p>}
      <table className="table" aria-label="Compose projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Services</th>
            <th>Running</th>
            <th>Folder</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td>
              <td>{p.services.join(', ')}</td>
              <td>
                {p.running}/{p.total}
              </td>
              <td className="mono ellipsis" title={p.configFiles}>
                {p.workingDir}
              </td>
              <td className="actions">
                <button type="button" onClick={() => void action(p.name, 'up')} aria-label={`Up ${p.name}`}>
                  Up
                </button>
                <button
                  type="button"
                  onClick={() => void action(p.name, 'stop')}
                  aria-label={`Stop ${p.name}`}
                >
                  Stop
                </button>
                <button
                  type="button"
                  onClick={() => void action(p.name, 'restart')}
                  aria-label={`Restart ${p.name}`}
                >
                  Restart
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() => void action(p.name, 'down')}
                  aria-label={`Take ${p.name} down`}
                >
                  Down
                </button>
                <a
                  href="#/containers"
                  onClick={() => containersStore.getState().setText(p.name)}
                  aria-label={`Containers and logs of ${p.name}`}
                >
                  Logs
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
