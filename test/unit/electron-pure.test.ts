// The Electron shell's pure parts: the tray's menu and icon per machine state,
// the window's security options and navigation rules, the IPC call envelope,
// and where the CLI gets installed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { DesktopMethod } from '../../common/desktop-api.js';
import { DesktopFailure } from '../../main/errors.js';
import { installCliPlan } from '../../main/electron/cli-install.js';
import { handleCall } from '../../main/electron/ipc-call.js';
import {
  stateNotification,
  trayIconName,
  trayMenuTemplate,
  type TrayState,
} from '../../main/electron/tray-menu.js';
import { isExternalOpenable, isInternalUrl, windowOptions } from '../../main/electron/window-options.js';

const vm = (status: TrayState['vm'], extra: Partial<TrayState> = {}): TrayState => ({
  vm: status,
  mode: 'vm',
  engineReachable: status === 'running',
  ...extra,
});

/** The menu as the user reads it: label, and [x] for a disabled item. */
function read(items: ReturnType<typeof trayMenuTemplate>): string[] {
  return items.map((i) =>
    i.type === 'separator' ? '---' : `${i.label}${i.enabled === false ? ' [x]' : ''}`,
  );
}

describe('tray menu', () => {
  it('offers Stop and Restart while running, not Start', () => {
    assert.deepEqual(read(trayMenuTemplate(vm('running'))), [
      'Berth is running [x]',
      '---',
      'Start [x]',
      'Stop',
      'Restart',
      '---',
      'Open Dashboard',
      'Settings…',
      'Troubleshoot',
      '---',
      'Quit Berth (stops the VM)',
    ]);
  });

  it('offers Start when stopped, and nothing of start/stop while it is starting', () => {
    const stopped = read(trayMenuTemplate(vm('stopped')));
    assert.deepEqual(stopped.slice(0, 5), [
      'Berth is stopped [x]',
      '---',
      'Start',
      'Stop [x]',
      'Restart [x]',
    ]);
    assert.equal(stopped.at(-1), 'Quit Berth');
    assert.deepEqual(read(trayMenuTemplate(vm('starting'))).slice(0, 5), [
      'Berth is starting… [x]',
      '---',
      'Start [x]',
      'Stop [x]',
      'Restart [x]',
    ]);
  });

  it('says what went wrong in error, and offers Start and Restart', () => {
    const items = trayMenuTemplate(vm('error', { reason: 'QEMU exited' }));
    assert.deepEqual(read(items).slice(0, 5), [
      'Berth has a problem: QEMU exited [x]',
      '---',
      'Start',
      'Stop [x]',
      'Restart',
    ]);
    assert.equal(items.find((i) => i.label === 'Troubleshoot')?.action, 'troubleshoot');
  });

  it('has no VM controls for an external engine', () => {
    const ext = trayMenuTemplate({ vm: 'stopped', mode: 'external', engineReachable: true });
    assert.deepEqual(read(ext), [
      'Engine running (external) [x]',
      '---',
      'Open Dashboard',
      'Settings…',
      'Troubleshoot',
      '---',
      'Quit Berth',
    ]);
    assert.equal(trayIconName({ vm: 'stopped', mode: 'external', engineReachable: true }), 'running');
    assert.equal(trayIconName({ vm: 'stopped', mode: 'external', engineReachable: false }), 'error');
  });

  it('gives each state its icon', () => {
    for (const s of ['stopped', 'starting', 'running', 'stopping', 'error'] as const)
      assert.equal(trayIconName(vm(s)), s);
  });

  it('notifies on reaching running, stopped and error; not on no change', () => {
    assert.equal(stateNotification(vm('starting'), vm('running'))?.title, 'Berth is running');
    assert.equal(stateNotification(vm('running'), vm('stopped'))?.title, 'Berth stopped');
    assert.deepEqual(stateNotification(vm('running'), vm('error', { reason: 'disk full' })), {
      title: 'Berth has a problem',
      body: 'disk full',
    });
    assert.equal(stateNotification(vm('running'), vm('running')), undefined);
    assert.equal(stateNotification(undefined, vm('running')), undefined, 'no notification at start-up');
  });
});

describe('window', () => {
  it('isolates the page: context isolation, no node integration, sandbox, the preload', () => {
    const o = windowOptions({ preload: '/app/preload.cjs', dark: true });
    assert.equal(o.webPreferences?.contextIsolation, true);
    assert.equal(o.webPreferences?.nodeIntegration, false);
    assert.equal(o.webPreferences?.sandbox, true);
    assert.equal(o.webPreferences?.webSecurity, true);
    assert.equal(o.webPreferences?.preload, '/app/preload.cjs');
  });

  it('stays on the dashboard origin and hands only http(s) links to the browser', () => {
    assert.equal(isInternalUrl('http://127.0.0.1:4000/#/images', 'http://127.0.0.1:4000'), true);
    assert.equal(isInternalUrl('http://127.0.0.1:4001/', 'http://127.0.0.1:4000'), false);
    assert.equal(isInternalUrl('file:///etc/passwd', 'http://127.0.0.1:4000'), false);
    assert.equal(isExternalOpenable('http://localhost:8080'), true);
    assert.equal(isExternalOpenable('file:///etc/passwd'), false);
    assert.equal(isExternalOpenable('javascript:alert(1)'), false);
  });
});

describe('IPC calls', () => {
  const backend = {
    isMethod: (m: string): m is DesktopMethod => m === 'containers.list' || m === 'containers.stop',
    call: async (m: DesktopMethod, p: never) => {
      if (m === 'containers.stop') throw new DesktopFailure(`"id" must be a non-empty string`, 400);
      return [{ asked: m, p }];
    },
  };
  const origin = 'http://127.0.0.1:4000';

  it('answers a call from the dashboard', async () => {
    assert.deepEqual(await handleCall(backend, `${origin}/#/containers`, origin, 'containers.list', {}), {
      ok: true,
      result: [{ asked: 'containers.list', p: {} }],
    });
  });

  it('keeps the status of a failure, and refuses other pages and unknown methods', async () => {
    assert.deepEqual(await handleCall(backend, `${origin}/`, origin, 'containers.stop', {}), {
      ok: false,
      error: '"id" must be a non-empty string',
      status: 400,
      fields: undefined,
    });
    assert.equal(
      (await handleCall(backend, 'https://evil.example/', origin, 'containers.list', {})).ok,
      false,
    );
    const unknown = await handleCall(backend, `${origin}/`, origin, 'fs.readFile', {});
    assert.equal(unknown.ok === false && unknown.status, 404);
  });
});

describe('CLI install', () => {
  it('is nothing to do in a development checkout', () => {
    assert.equal(
      installCliPlan({ platform: 'linux', resourcesPath: '/r', home: '/home/u', packaged: false }),
      undefined,
    );
  });

  it('puts a launcher in ~/.local/bin on Linux that runs the bundled CLI', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'berth-cli-home-'));
    try {
      const plan = installCliPlan({
        platform: 'linux',
        resourcesPath: '/opt/Berth/resources',
        home,
        packaged: true,
      })!;
      assert.equal(plan.link, path.join(home, '.local', 'bin', 'berth'));
      assert.equal(plan.target, '/opt/Berth/resources/cli/berth.mjs');
      assert.equal(plan.alreadyInstalled(), false);
      await plan.install();
      assert.equal(plan.alreadyInstalled(), true);
      assert.match(
        readFileSync(plan.link, 'utf8'),
        /ELECTRON_RUN_AS_NODE=1 BERTH_BUNDLED_IMAGES='\/opt\/Berth\/resources\/guest-image' exec ".*" "\/opt\/Berth\/resources\/cli\/berth\.mjs" "\$@"/,
      );
      assert.equal(statSync(plan.link).mode & 0o111, 0o111);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('uses /usr/local/bin on macOS and a .cmd on Windows', () => {
    assert.equal(
      installCliPlan({ platform: 'darwin', resourcesPath: '/r', home: '/Users/u', packaged: true })?.link,
      '/usr/local/bin/berth',
    );
    const win = installCliPlan({
      platform: 'win32',
      resourcesPath: 'C:\\B',
      home: 'C:\\Users\\u',
      packaged: true,
    })!;
    assert.match(win.link, /berth\.cmd$/);
    assert.match(win.script, /^@echo off\r\n/);
  });
});
