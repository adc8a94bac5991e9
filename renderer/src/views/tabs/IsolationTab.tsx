// Isolation: how this container is actually isolated, the same facts as
// `berth explain` — namespaces beside the host's, cgroup limits and use,
// overlay layers, mounts, network, ports, and where each variable came from.
import { bytes } from '../../format.js';
import { useCall } from '../../hooks.js';

export function IsolationTab({ id }: { id: string }) {
  const { data, error, loading, reload } = useCall('containers.explain', { id }, [id]);
  if (error) return <p className="error">{error}</p>;
  if (loading && !data) return <p className="muted">Loading…</p>;
  if (!data) return null;
  const x = data.explanation;
  const cg = x.cgroup;
  return (
    <div className="isolation">
      <div className="toolbar">
        <button type="button" onClick={reload}>
          Refresh
        </button>
        {data.from === 'inspect' && (
          <span className="muted">
            This engine has no explain endpoint: pieced together from inspect (no namespaces, no live use).
          </span>
        )}
      </div>

      <section aria-labelledby="iso-ns">
        <h2 id="iso-ns">Namespaces</h2>
        {x.namespaces.length === 0 ? (
          <p className="muted">
            {x.running ? 'Not known from this engine.' : 'Namespaces exist only while the container runs.'}
          </p>
        ) : (
          <table className="table" aria-label="Namespaces">
            <thead>
              <tr>
                <th>Type</th>
                <th>Container inode</th>
                <th>Host inode</th>
                <th>Isolated</th>
              </tr>
            </thead>
            <tbody>
              {x.namespaces.map((n) => (
                <tr key={n.type}>
                  <td>{n.type}</td>
                  <td className="mono">{n.container}</td>
                  <td className="mono">{n.host}</td>
                  <td>{n.shared ? 'shared with the host' : 'own'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="iso-cg">
        <h2 id="iso-cg">Limits (cgroup{cg.path ? ` ${cg.path}, v${cg.version}` : ''})</h2>
        <dl className="facts" aria-label="Limits">
          <dt>Memory limit</dt>
          <dd data-testid="memory-limit">
            {cg.memory.limit === null ? 'unlimited' : bytes(cg.memory.limit)}
          </dd>
          <dt>Memory in use</dt>
          <dd>{cg.memory.usage === null ? '–' : bytes(cg.memory.usage)}</dd>
          <dt>CPUs</dt>
          <dd>{cg.cpu.limit === null ? 'unlimited' : cg.cpu.limit}</dd>
          <dt>CPU shares</dt>
          <dd>{cg.cpu.shares ?? 'default'}</dd>
          <dt>CPU set</dt>
          <dd>{cg.cpu.cpuset ?? 'all'}</dd>
          <dt>CPU time used</dt>
          <dd>{cg.cpu.usageNanos === null ? '–' : `${(cg.cpu.usageNanos / 1e9).toFixed(2)} s`}</dd>
          <dt>Processes</dt>
          <dd>
            {cg.pids.current ?? '–'} of {cg.pids.limit ?? 'unlimited'}
          </dd>
        </dl>
      </section>

      <section aria-labelledby="iso-fs">
        <h2 id="iso-fs">
          Root filesystem ({x.rootfs.driver}
          {x.rootfs.readOnly ? ', read-only' : ''})
        </h2>
        <dl className="facts">
          <dt>Writable layer (upper dir)</dt>
          <dd className="mono">{x.rootfs.upperDir || '–'}</dd>
          <dt>Merged at</dt>
          <dd className="mono">{x.rootfs.merged || '–'}</dd>
          <dt>Image layers ({x.rootfs.lowerDirs.length}, top first)</dt>
          <dd>
            <ol className="mono">
              {x.rootfs.lowerDirs.map((d) => (
                <li key={d}>{d}</li>
              ))}
            </ol>
          </dd>
        </dl>
      </section>

      <section aria-labelledby="iso-mounts">
        <h2 id="iso-mounts">Mounts</h2>
        {x.mounts.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <table className="table" aria-label="Mounts">
            <thead>
              <tr>
                <th>Type</th>
                <th>Source</th>
                <th>On the host</th>
                <th>In the container</th>
                <th>Mode</th>
              </tr>
            </thead>
            <tbody>
              {x.mounts.map((m) => (
                <tr key={m.destination}>
                  <td>{m.type}</td>
                  <td className="mono">{m.source}</td>
                  <td className="mono">{m.hostPath}</td>
                  <td className="mono">{m.destination}</td>
                  <td>{m.readOnly ? 'ro' : 'rw'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="iso-net">
        <h2 id="iso-net">Network ({x.networkMode})</h2>
        <table className="table" aria-label="Networks">
          <thead>
            <tr>
              <th>Network</th>
              <th>Bridge</th>
              <th>veth (host end)</th>
              <th>IP</th>
              <th>MAC</th>
              <th>Gateway</th>
            </tr>
          </thead>
          <tbody>
            {x.networks.map((n) => (
              <tr key={n.name}>
                <td>{n.name}</td>
                <td className="mono">{n.bridge ?? '–'}</td>
                <td className="mono">{n.vethHost ?? '–'}</td>
                <td className="mono">{n.ipAddress ? `${n.ipAddress}/${n.prefixLen}` : '–'}</td>
                <td className="mono">{n.macAddress || '–'}</td>
                <td className="mono">{n.gateway || '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {x.ports.length > 0 && (
          <p>
            Ports:{' '}
            {x.ports.map((p) => (
              <span key={`${p.hostIp}:${p.hostPort}/${p.protocol}`} className="mono chip">
                {p.hostIp || '0.0.0.0'}:{p.hostPort} → {p.containerPort}/{p.protocol}
              </span>
            ))}
          </p>
        )}
      </section>

      <section aria-labelledby="iso-env">
        <h2 id="iso-env">Environment</h2>
        <table className="table" aria-label="Environment variables">
          <thead>
            <tr>
              <th>Variable</th>
              <th>Value</th>
              <th>From</th>
            </tr>
          </thead>
          <tbody>
            {x.env.map((e) => (
              <tr key={e.key} data-env={e.key}>
                <td className="mono">{e.key}</td>
                <td className="mono">
                  {e.value}
                  {e.imageValue !== undefined && <span className="muted"> (image had {e.imageValue})</span>}
                </td>
                <td>
                  <span className={`chip src-${e.source.replace(/[^a-z]+/g, '-')}`}>{e.source}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
