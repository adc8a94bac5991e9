// Settings: VM resources, shared folders, accelerator, default logging, the
// engine's daemon.json; each field checked as it is typed (the same rules the
// backend applies); changes that need a VM restart say so and offer it.
import { useEffect, useMemo, useState } from 'react';
import { LOG_DRIVERS } from '../../../common/daemon-directives.js';
import type { Settings } from '../../../common/desktop-api.js';
import { act } from '../actions.js';
import { call } from '../api/client.js';
import { useVanilla } from '../hooks.js';
import { createSettingsForm, isDirty } from '../stores/settings-form.js';

export function SettingsView({ onTheme }: { onTheme(t: 'light' | 'dark'): void }) {
  const [limits, setLimits] = useState<{ hostCpus: number; hostMemoryMiB: number }>();
  useEffect(() => {
    void call('settings.limits', {}).then(setLimits);
  }, []);
  if (!limits) return <p className="muted">Loading…</p>;
  return <SettingsForm limits={limits} onTheme={onTheme} />;
}

function SettingsForm({
  limits,
  onTheme,
}: {
  limits: { hostCpus: number; hostMemoryMiB: number };
  onTheme(t: 'light' | 'dark'): void;
}) {
  const form = useMemo(
    () =>
      createSettingsForm(
        { get: () => call('settings.get', {}), save: (settings) => call('settings.save', { settings }) },
        limits,
      ),
    [limits],
  );
  const s = useVanilla(form, (x) => x);
  useEffect(() => {
    void form.getState().load();
  }, [form]);
  const v = s.values;
  if (!v) return <p className="muted">Loading…</p>;
  const edit = (patch: Partial<Settings>) => form.getState().edit(patch);
  const err = (k: string) =>
    s.errors[k] ? (
      <span className="field-error" id={`err-${k}`} role="alert">
        {s.errors[k]}
      </span>
    ) : null;
  const num = (k: 'cpus' | 'memoryMiB' | 'diskGiB', label: string) => (
    <label>
      {label}
      <input
        type="number"
        aria-label={label}
        aria-invalid={Boolean(s.errors[k])}
        aria-describedby={s.errors[k] ? `err-${k}` : undefined}
        value={Number.isNaN(v[k]) ? '' : v[k]}
        onChange={(e) =>
          edit({ [k]: e.target.value === '' ? NaN : Number(e.target.value) } as Partial<Settings>)
        }
      />
      {err(k)}
    </label>
  );
  return (
    <section className="view settings" aria-labelledby="settings-title">
      <header className="view-head">
        <h1 id="settings-title">Settings</h1>
      </header>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (await form.getState().save()) {
            const t = form.getState().values?.theme;
            if (t === 'light' || t === 'dark') onTheme(t);
          }
        }}
      >
        <fieldset>
          <legend>Virtual machine</legend>
          {num('cpus', 'CPUs')}
          {num('memoryMiB', 'Memory (MiB)')}
          {num('diskGiB', 'Disk (GiB)')}
          <label>
            Accelerator
            <select
              aria-label="Accelerator"
              value={v.accel}
              onChange={(e) => edit({ accel: e.target.value as Settings['accel'] })}
            >
              {['auto', 'kvm', 'hvf', 'whpx', 'tcg'].map((a) => (
                <option key={a}>{a}</option>
              ))}
            </select>
          </label>
          <label>
            Shared folders (one per line)
            <textarea
              aria-label="Shared folders"
              aria-invalid={Boolean(s.errors.sharedFolders)}
              rows={3}
              value={v.sharedFolders.join('\n')}
              onChange={(e) =>
                edit({
                  sharedFolders: e.target.value
                    .split('\n')
                    .filter((l, i, all) => l !== '' || i < all.length - 1),
                })
              }
            />
            {err('sharedFolders')}
          </label>
        </fieldset>
        <fieldset>
          <legend>Engine</legend>
          <label>
            Default log driver
            <select
              aria-label="Default log driver"
              value={v.logDriver}
              onChange={(e) => edit({ logDriver: e.target.value as Settings['logDriver'] })}
            >
              {LOG_DRIVERS.map((d) => (
                <option key={d}>{d}</option>
              ))}
            </select>
          </label>
          <label>
            Log options (key=value, one per line)
            <textarea
              aria-label="Log options"
              rows={2}
              value={Object.entries(v.logOpts)
                .map(([k, x]) => `${k}=${x}`)
                .join('\n')}
              onChange={(e) =>
                edit({
                  logOpts: Object.fromEntries(
                    e.target.value
                      .split('\n')
                      .filter(Boolean)
                      .map((l) => [l.split('=')[0], l.slice(l.indexOf('=') + 1)]),
                  ),
                })
              }
            />
            {err('logOpts')}
          </label>
          <label>
            daemon.json
            <textarea
              aria-label="daemon.json"
              className="mono"
              rows={6}
              aria-invalid={Boolean(s.errors.daemonJson)}
              aria-describedby={s.errors.daemonJson ? 'err-daemonJson' : undefined}
              value={v.daemonJson}
              onChange={(e) => edit({ daemonJson: e.target.value })}
            />
            {err('daemonJson')}
          </label>
        </fieldset>
        <fieldset>
          <legend>App</legend>
          <label>
            <input
              type="checkbox"
              checked={v.startAtLogin}
              onChange={(e) => edit({ startAtLogin: e.target.checked })}
            />{' '}
            Start Berth at login
          </label>
          <label>
            Theme
            <select
              aria-label="Theme"
              value={v.theme}
              onChange={(e) => edit({ theme: e.target.value as Settings['theme'] })}
            >
              <option value="system">system</option>
              <option value="light">light</option>
              <option value="dark">dark</option>
            </select>
          </label>
        </fieldset>
        <div className="dialog-actions">
          <button type="button" onClick={() => form.getState().reset()} disabled={!isDirty(s)}>
            Discard changes
          </button>
          <button
            type="submit"
            className="primary"
            disabled={s.saving || Object.keys(s.errors).length > 0 || !isDirty(s)}
          >
            {s.saving ? 'Saving…' : 'Apply'}
          </button>
        </div>
        {s.saveError && (
          <p className="error" role="alert">
            {s.saveError}
          </p>
        )}
        {s.result && (
          <div className="notice" role="status">
            Saved.
            {s.result.needsRestart.length > 0 && (
              <>
                {' '}
                {s.result.needsRestart.join(', ')} take effect when the VM restarts.{' '}
                <button
                  type="button"
                  onClick={() => void act('machine.action', { action: 'restart' }, 'VM restarted')}
                >
                  Restart the VM now
                </button>
              </>
            )}
          </div>
        )}
      </form>
    </section>
  );
}
