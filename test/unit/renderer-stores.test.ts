// The dashboard's zustand stores, as the views use them: the live container
// list (rows, removal, stats history, grouping, search, selection) and the
// settings form (field messages as typed, save, what needs a restart).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerRow, Settings, SettingsSaveResult } from '../../common/desktop-api.js';
import { DEFAULT_SETTINGS } from '../../common/settings.js';
import { STATS_HISTORY, createContainersStore, visibleGroups } from '../../renderer/src/stores/containers.js';
import { createSettingsForm, isDirty } from '../../renderer/src/stores/settings-form.js';

function row(name: string, patch: Partial<ContainerRow> = {}): ContainerRow {
  return {
    id: `${name}-id`,
    name,
    image: 'busybox',
    state: 'running',
    status: 'Up',
    created: 0,
    ports: [],
    command: 'sleep',
    ...patch,
  };
}

describe('containers store', () => {
  it('takes the list, then single changes and removals from the live feed', () => {
    const s = createContainersStore();
    assert.equal(s.getState().connected, false);
    s.getState().apply({ type: 'containers', rows: [row('a'), row('b')] });
    assert.equal(s.getState().connected, true);
    s.getState().apply({ type: 'container', row: row('a', { state: 'exited' }) });
    s.getState().apply({ type: 'container', row: row('c') });
    assert.deepEqual(
      Object.values(s.getState().rows).map((r) => [r.name, r.state]),
      [
        ['a', 'exited'],
        ['b', 'running'],
        ['c', 'running'],
      ],
    );
    s.getState().toggleSelected('b-id');
    s.getState().apply({ type: 'container-removed', id: 'b-id' });
    assert.equal(s.getState().rows['b-id'], undefined);
    assert.deepEqual(s.getState().selected, {}, 'a removed container is no longer selected');
    s.getState().apply({ type: 'engine-down', message: 'gone' });
    assert.equal(s.getState().connected, false);
    assert.equal(s.getState().engineError, 'gone');
  });

  it('keeps a bounded stats history per container', () => {
    const s = createContainersStore();
    for (let t = 0; t < STATS_HISTORY + 30; t++)
      s.getState().apply({
        type: 'stats',
        samples: [
          {
            id: 'a-id',
            t,
            cpuPercent: t,
            memUsage: 0,
            memLimit: 0,
            netRx: 0,
            netTx: 0,
            blkRead: 0,
            blkWrite: 0,
            pids: 1,
          },
        ],
      });
    const h = s.getState().stats['a-id'];
    assert.equal(h.length, STATS_HISTORY);
    assert.equal(h.at(-1)?.t, STATS_HISTORY + 29);
  });

  it('groups by compose project, projects first, and filters by text and state', () => {
    const rows = Object.fromEntries(
      [
        row('web', { project: 'shop', service: 'web' }),
        row('db', { project: 'shop', service: 'db', state: 'exited' }),
        row('loose', { ports: [{ privatePort: 80, publicPort: 8080, type: 'tcp' }] }),
        row('api', { project: 'auth' }),
      ].map((r) => [r.id, r]),
    );
    const all = visibleGroups({ rows, text: '', stateFilter: 'all' });
    assert.deepEqual(
      all.map((g) => [g.project, g.rows.map((r) => r.name), g.running]),
      [
        ['auth', ['api'], 1],
        ['shop', ['db', 'web'], 1],
        [undefined, ['loose'], 1],
      ],
    );
    assert.deepEqual(
      visibleGroups({ rows, text: '', stateFilter: 'stopped' }).map((g) => g.rows.map((r) => r.name)),
      [['db']],
    );
    assert.deepEqual(
      visibleGroups({ rows, text: '8080', stateFilter: 'all' }).map((g) => g.rows.map((r) => r.name)),
      [['loose']],
    );
    assert.deepEqual(
      visibleGroups({ rows, text: 'SHOP', stateFilter: 'running' }).map((g) => g.rows.map((r) => r.name)),
      [['web']],
    );
  });
});

describe('settings form store', () => {
  const limits = { hostCpus: 4, hostMemoryMiB: 8192 };

  function fakeApi(saved: Settings) {
    const calls: Settings[] = [];
    return {
      calls,
      api: {
        get: async () => saved,
        save: async (s: Settings): Promise<SettingsSaveResult> => {
          calls.push(s);
          return { settings: s, needsRestart: s.cpus !== saved.cpus ? ['cpus'] : [] };
        },
      },
    };
  }

  it('shows a field message as it is typed and does not save invalid settings', async () => {
    const { api, calls } = fakeApi({ ...DEFAULT_SETTINGS });
    const f = createSettingsForm(api, limits);
    await f.getState().load();
    f.getState().edit({ cpus: 0 });
    assert.match(f.getState().errors.cpus, /1 to 4/);
    assert.equal(await f.getState().save(), false);
    assert.equal(calls.length, 0);
    f.getState().edit({ cpus: 3 });
    assert.deepEqual(f.getState().errors, {});
  });

  it('saves, says what needs a VM restart, and is clean afterwards', async () => {
    const { api, calls } = fakeApi({ ...DEFAULT_SETTINGS });
    const f = createSettingsForm(api, limits);
    await f.getState().load();
    assert.equal(isDirty(f.getState()), false);
    f.getState().edit({ cpus: 3 });
    assert.equal(isDirty(f.getState()), true);
    assert.equal(await f.getState().save(), true);
    assert.equal(calls.length, 1);
    assert.deepEqual(f.getState().result?.needsRestart, ['cpus']);
    assert.equal(isDirty(f.getState()), false);
  });

  it("shows the backend's field messages when it refuses", async () => {
    const f = createSettingsForm(
      {
        get: async () => ({ ...DEFAULT_SETTINGS }),
        save: async () => {
          throw Object.assign(new Error('some settings are not valid'), {
            fields: { diskGiB: 'too big for this disk' },
          });
        },
      },
      limits,
    );
    await f.getState().load();
    f.getState().edit({ diskGiB: 100 });
    assert.equal(await f.getState().save(), false);
    assert.equal(f.getState().saveError, 'some settings are not valid');
    assert.equal(f.getState().errors.diskGiB, 'too big for this disk');
  });
});
