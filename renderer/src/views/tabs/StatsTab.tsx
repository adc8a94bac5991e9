// Stats: CPU, memory, network and block I/O over the last two minutes, from
// the live feed's samples.
import { Chart } from '../../components/Chart.js';
import { bytes } from '../../format.js';
import { useVanilla } from '../../hooks.js';
import { containersStore } from '../../live.js';
import type { StatsSample } from '../../../../common/desktop-api.js';

const EMPTY: StatsSample[] = [];

/** Per-second rates from running totals. */
function rates(samples: StatsSample[], pick: (s: StatsSample) => number): number[] {
  const out: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000 || 1;
    out.push(Math.max(0, (pick(samples[i]) - pick(samples[i - 1])) / dt));
  }
  return out;
}

export function StatsTab({ id }: { id: string }) {
  const samples = useVanilla(containersStore, (s) => s.stats[id] ?? EMPTY);
  const running = useVanilla(containersStore, (s) => s.rows[id]?.state === 'running');
  if (!running && samples.length === 0) return <p className="muted">Stats show while the container runs.</p>;
  if (samples.length === 0) return <p className="muted">Waiting for the first sample…</p>;
  const last = samples[samples.length - 1];
  return (
    <div className="stats-grid">
      <Chart
        title="CPU"
        series={[{ name: '', values: samples.map((s) => s.cpuPercent), className: 's1' }]}
        format={(v) => `${v.toFixed(1)} %`}
        max={100}
      />
      <Chart
        title={`Memory (limit ${last.memLimit ? bytes(last.memLimit) : 'none'})`}
        series={[{ name: '', values: samples.map((s) => s.memUsage), className: 's1' }]}
        format={bytes}
      />
      <Chart
        title="Network"
        series={[
          { name: 'in', values: rates(samples, (s) => s.netRx), className: 's1' },
          { name: 'out', values: rates(samples, (s) => s.netTx), className: 's2' },
        ]}
        format={(v) => `${bytes(v)}/s`}
      />
      <Chart
        title="Disk I/O"
        series={[
          { name: 'read', values: rates(samples, (s) => s.blkRead), className: 's1' },
          { name: 'write', values: rates(samples, (s) => s.blkWrite), className: 's2' },
        ]}
        format={(v) => `${bytes(v)}/s`}
      />
      <p className="muted">Processes: {last.pids}</p>
    </div>
  );
}
