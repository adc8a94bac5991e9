// Electron's main process, kept thin: one instance, the backend served on
// 127.0.0.1 (the same headless server), a window on it with the contract's
// preload, a tray whose menu follows the machine's state, notifications, start
// at login, and a quit that stops the VM gracefully. Everything behind it runs
// (and is tested) under plain Node.
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  shell,
  Tray,
  type MenuItemConstructorOptions,
} from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MachineInfo, SettingsSaveResult } from '../../common/desktop-api.js';
import { startHeadlessServer, type HeadlessServer } from '../headless-server.js';
import { CALL_CHANNEL, SERVER_CHANNEL, handleCall } from './ipc-call.js';
import { installCliPlan } from './cli-install.js';
import {
  stateNotification,
  trayIconName,
  trayMenuTemplate,
  trayState,
  type TrayAction,
  type TrayState,
} from './tray-menu.js';
import { isExternalOpenable, isInternalUrl, windowOptions } from './window-options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let server: HeadlessServer;
let win: BrowserWindow | undefined;
let tray: Tray | undefined;
let lastState: TrayState | undefined;
let quitting = false;

if (!app.requestSingleInstanceLock()) app.quit();
else {
  app.on('second-instance', () => showWindow());
  app.whenReady().then(start, (err) => {
    dialog.showErrorBox('Berth could not start', String(err));
    app.exit(1);
  });
}

function origin(): string {
  return new URL(server.url).origin;
}

async function start(): Promise<void> {
  server = await startHeadlessServer({ staticDir: path.join(here, '..', 'renderer') });
  ipcMain.on(SERVER_CHANNEL, (e) => {
    // Only the dashboard's own page learns the token.
    e.returnValue = isInternalUrl(e.sender.getURL(), origin())
      ? { origin: origin(), token: server.token }
      : null;
  });
  ipcMain.handle(CALL_CHANNEL, async (e, method, params) => {
    const r = await handleCall(server.backend, e.sender.getURL(), origin(), method, params);
    // "Start at login" is the app's to apply, as soon as it is saved.
    if (r.ok && method === 'settings.save')
      app.setLoginItemSettings({ openAtLogin: (r.result as SettingsSaveResult).settings.startAtLogin });
    return r;
  });
  const settings = await server.backend.settings.get();
  app.setLoginItemSettings({ openAtLogin: settings.startAtLogin });
  tray = new Tray(icon('stopped'));
  tray.setToolTip('Berth');
  tray.on('click', () => showWindow());
  server.backend.live.subscribe((m) => {
    if (m.type === 'machine') updateTray(m.machine);
  });
  updateTray(await server.backend.machine.info());
  await offerCliInstall();
  showWindow();
}

function icon(name: string) {
  return nativeImage.createFromPath(path.join(here, 'icons', `tray-${name}.png`));
}

function updateTray(info: MachineInfo): void {
  const s = trayState(info);
  const note = stateNotification(lastState, s);
  lastState = s;
  if (note && Notification.isSupported()) new Notification(note).show();
  if (!tray) return;
  tray.setImage(icon(trayIconName(s)));
  const template: MenuItemConstructorOptions[] = trayMenuTemplate(s).map((item) =>
    item.type === 'separator'
      ? { type: 'separator' }
      : {
          label: item.label,
          enabled: item.enabled ?? true,
          accelerator: item.accelerator,
          click: item.action ? () => void onTray(item.action!) : undefined,
        },
  );
  tray.setContextMenu(Menu.buildFromTemplate(template));
}

async function onTray(action: TrayAction): Promise<void> {
  switch (action) {
    case 'start':
    case 'stop':
    case 'restart':
      try {
        updateTray(await server.backend.machine.action(action));
      } catch (err) {
        new Notification({ title: `Berth could not ${action}`, body: (err as Error).message }).show();
      }
      return;
    case 'open-dashboard':
      return showWindow('#/containers');
    case 'open-settings':
      return showWindow('#/settings');
    case 'troubleshoot':
      return showWindow('#/machine');
    case 'quit':
      return quit();
  }
}

function showWindow(hash = ''): void {
  if (win && !win.isDestroyed()) {
    if (hash) void win.loadURL(`${server.url}${hash}`);
    win.show();
    win.focus();
    return;
  }
  win = new BrowserWindow(windowOptions({ preload: path.join(here, 'preload.cjs'), dark: false }));
  const contents = win.webContents;
  contents.on('will-navigate', (e, url) => {
    if (!isInternalUrl(url, origin())) e.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalOpenable(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.once('ready-to-show', () => win?.show());
  // Closing the window keeps Berth in the tray; Quit ends it.
  win.on('close', (e) => {
    if (!quitting) {
      e.preventDefault();
      win?.hide();
    }
  });
  void win.loadURL(`${server.openUrl}${hash}`);
}

/** Quit: the VM is stopped gracefully first (when Berth runs it). */
async function quit(): Promise<void> {
  quitting = true;
  try {
    const info = await server.backend.machine.info();
    if (info.mode === 'vm' && (info.vm.status === 'running' || info.vm.status === 'starting'))
      await server.backend.machine.action('stop');
  } catch (err) {
    dialog.showErrorBox('Berth could not stop the VM', (err as Error).message);
  }
  await server.close();
  app.exit(0);
}

/** Puts the berth CLI on the PATH, asking first (once). */
async function offerCliInstall(): Promise<void> {
  const plan = installCliPlan({
    platform: process.platform,
    resourcesPath: process.resourcesPath,
    home: app.getPath('home'),
    packaged: app.isPackaged,
  });
  if (!plan || plan.alreadyInstalled()) return;
  const { response } = await dialog.showMessageBox({
    type: 'question',
    buttons: ['Install', 'Not now'],
    defaultId: 0,
    message: 'Install the berth command?',
    detail: `Berth can put its command-line tool at ${plan.link} so that terminals find it.`,
  });
  if (response === 0) {
    try {
      await plan.install();
    } catch (err) {
      dialog.showErrorBox('The berth command was not installed', (err as Error).message);
    }
  }
}

app.on('before-quit', (e) => {
  if (!quitting) {
    e.preventDefault();
    void quit();
  }
});
app.on('window-all-closed', () => {
  // Stay in the tray.
});
