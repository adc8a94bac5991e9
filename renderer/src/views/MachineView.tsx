// Machine: the VM's state and resources, start/stop/restart, its logs, and doctor.
import { useEffect, useState } from 'react';
import type { MachineInfo } from '../../../common/desktop-api.js';
import { act } from '../actions.js';
import { bytes } from '../format.js';
import { useCall, useVanilla } from '../hooks.js';
import { versions } from '../live.js';

export function MachineView() {
  const pushed = useVanilla(versions, (v) => v.machine);
  const { data, error, reload } = useCall('machine.info', {}, [pushed]);
  const [busy, setBusy] = useState(false);
  const [logs, setLogs] = useState<string>();
  const doctor = useCall('machine.doctor', {}, []);
  const m: MachineInfo | undefined = data;
  useEffect(() => {
    if (pushed) reload();
  }, [pushed, reload]);
  const run = async (action: 'start' | 'stop' | 'restart') => {
    setBusy(true);
    await act('machine.action', { action }, `VM ${action} done`);
    setBusy(false);
    reload();
  };
  return (
    <section className="view" aria-labelledby="machine-title">
      <header className="view-head">
        <h1 id="machine-title">Machine</h1>
        {m?.mode === 'vm' && (
          <div className="toolbar">
            <button type="button" disabled={busy} onClick={() => void run('start')}>
              Start
            </button>
            <button type="button" disabled={busy} onClick={() => void run('stop')}>
              Stop
            </button>
            <button type="button" disabled={busy} onClick={() => void run('restart')}>
              Restart
            </button>
          </div>
        )}
      </header>
      {error && <p className="error">{error}</p>}
      {m && (
        <dl className="facts" aria-label="Machine state">
          <dt>Engine</dt>
          <dd data-testid="engine-state">
            {m.engineReachable ? `running: ${m.engineVersion}` : 'not reachable'} on{' '}
            <span className="mono">{m.engineSocket}</span>
          </dd>
          <dt>Where</dt>
          <dd>
            {m.mode === 'vm' ? 'Berth VM' : 'an engine named by DOCKER_HOST (start and stop it yourself)'}
          </dd>
          <dt>VM</dt>
          <dd>
            {m.vm.status}
            {m.vm.reason ? ` (${m.vm.reason})` : ''}
            {m.vm.accel ? `, ${m.vm.accel}` : ''}
            {m.vm.bootMs ? `, booted in ${(m.vm.bootMs / 1000).toFixed(1)} s` : ''}
          </dd>
          {m.resources && (
            <>
              <dt>Resources</dt>
              <dd>
                {m.resources.cpus} CPUs, {bytes(m.resources.memoryBytes)} memory; {m.resources.running}/
                {m.resources.containers} containers running, {m.resources.images} images
              </dd>
            </>
          )}
        </dl>
      )}
      {m?.mode === 'vm' && (
        <>
          <h2>Reset</h2>
          <p className="muted">
            Stops the VM and deletes its disk (every image, container and volume in it), its logs and your
            settings.
          </p>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={async () => {
              if (
                !confirm(
                  'Reset Berth to factory defaults? Every image, container and volume in the VM is deleted.',
                )
              )
                return;
              setBusy(true);
              await act('machine.reset', { confirm: 'reset' }, 'Berth is back to factory defaults');
              setBusy(false);
              reload();
            }}
          >
            Reset to factory defaults…
          </button>
        </>
      )}
      <h2>Doctor</h2>
      <ul className="doctor" aria-label="Doctor checks">
        {doctor.data?.map((c, i) => (
          <li key={i} className={c.ok ? 'ok' : 'fail'}>
            <span aria-label={c.ok ? 'ok' : 'failed'}>{c.ok ? '✔' : '✖'}</span> <strong>{c.name}</strong>{' '}
            {c.detail}
            {c.fix && <div className="muted">fix: {c.fix}</div>}
          </li>
        ))}
      </ul>
      <h2>VM logs</h2>
      <button type="button" onClick={async () => setLogs(await act('machine.logs', { lines: 300 }))}>
        {logs === undefined ? 'Show VM logs' : 'Refresh'}
      </button>
      {logs !== undefined && (
        <pre className="vm-logs" aria-label="VM logs" tabIndex={0}>
          {logs}
        </pre>
      )}
    </section>
  );
}
