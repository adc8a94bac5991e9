// Inspect: the engine's inspect document as a JSON tree.
import { JsonTree } from '../../components/JsonTree.js';
import { useCall } from '../../hooks.js';

export function InspectTab({ id }: { id: string }) {
  const { data, error, loading } = useCall('containers.inspect', { id }, [id]);
  if (error) return <p className="error">{error}</p>;
  if (loading && !data) return <p className="muted">Loading…</p>;
  return (
    <div className="inspect" aria-label="Inspect data">
      <JsonTree value={data} />
    </div>
  );
}
