// The tray: its icon and menu as pure functions of the machine's state, so the
// menu is tested without Electron; tray.ts turns the items into a Menu.
import type { MachineInfo, VmStatus } from '../../common/desktop-api.js';

export type TrayAction =
  'start' | 'stop' | 'restart' | 'open-dashboard' | 'open-settings' | 'troubleshoot' | 'quit';

export interface TrayItem {
  label?: string;
  /** What a click does; none for the status line. */
  action?: TrayAction;
  enabled?: boolean;
  type?: 'normal' | 'separator';
  accelerator?: string;
}

export interface TrayState {
  vm: VmStatus;
  reason?: string;
  /** vm: Berth runs the engine's VM; external: another engine (no start/stop here). */
  mode: MachineInfo['mode'];
  engineReachable: boolean;
}

export function trayState(info: MachineInfo): TrayState {
  return {
    vm: info.vm.status,
    reason: info.vm.reason,
    mode: info.mode,
    engineReachable: info.engineReachable,
  };
}

/** The icon per state: stopped, starting, running, stopping, error. */
export function trayIconName(s: TrayState): VmStatus {
  if (s.mode === 'external') return s.engineReachable ? 'running' : 'error';
  return s.vm;
}

export function statusLine(s: TrayState): string {
  if (s.mode === 'external') return s.engineReachable ? 'Engine running (external)' : 'Engine not reachable';
  switch (s.vm) {
    case 'running':
      return s.engineReachable ? 'Berth is running' : 'Berth is running (engine not answering)';
    case 'starting':
      return 'Berth is starting…';
    case 'stopping':
      return 'Berth is stopping…';
    case 'stopped':
      return 'Berth is stopped';
    case 'error':
      return `Berth has a problem${s.reason ? `: ${s.reason}` : ''}`;
  }
}

export function trayMenuTemplate(s: TrayState): TrayItem[] {
  const vm = s.mode === 'vm';
  const busy = s.vm === 'starting' || s.vm === 'stopping';
  const items: TrayItem[] = [{ label: statusLine(s), enabled: false }, { type: 'separator' }];
  if (vm) {
    items.push(
      { label: 'Start', action: 'start', enabled: !busy && (s.vm === 'stopped' || s.vm === 'error') },
      { label: 'Stop', action: 'stop', enabled: s.vm === 'running' },
      { label: 'Restart', action: 'restart', enabled: s.vm === 'running' || s.vm === 'error' },
      { type: 'separator' },
    );
  }
  items.push(
    { label: 'Open Dashboard', action: 'open-dashboard', accelerator: 'CmdOrCtrl+D' },
    { label: 'Settings…', action: 'open-settings', accelerator: 'CmdOrCtrl+,' },
    { label: 'Troubleshoot', action: 'troubleshoot' },
    { type: 'separator' },
    {
      label: vm && s.vm !== 'stopped' ? 'Quit Berth (stops the VM)' : 'Quit Berth',
      action: 'quit',
      accelerator: 'CmdOrCtrl+Q',
    },
  );
  return items;
}

/** A notification for a change of state, or undefined when the change is not worth one. */
export function stateNotification(
  before: TrayState | undefined,
  after: TrayState,
): { title: string; body: string } | undefined {
  if (before && before.vm === after.vm && before.engineReachable === after.engineReachable) return undefined;
  if (after.vm === 'error') return { title: 'Berth has a problem', body: after.reason ?? 'see Troubleshoot' };
  if (!before) return undefined;
  if (after.vm === 'running' && before.vm !== 'running')
    return { title: 'Berth is running', body: 'The engine is ready.' };
  if (after.vm === 'stopped' && before.vm !== 'stopped')
    return { title: 'Berth stopped', body: 'The VM is off.' };
  return undefined;
}
