// The dashboard window: context isolation on, node integration off, sandboxed,
// a preload that exposes only the contract; navigation kept to the dashboard's
// own origin (links elsewhere open in the user's browser).
import type { BrowserWindowConstructorOptions } from 'electron';

export function windowOptions(opts: { preload: string; dark: boolean }): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 560,
    title: 'Berth',
    show: false,
    backgroundColor: opts.dark ? '#0f1115' : '#f6f7f9',
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      spellcheck: false,
    },
  };
}

/** May the window go to this URL? Only the dashboard's own origin. */
export function isInternalUrl(url: string, dashboardOrigin: string): boolean {
  try {
    return new URL(url).origin === dashboardOrigin;
  } catch {
    return false;
  }
}

/** Links the dashboard may hand to the user's browser (published ports, docs): http(s) only. */
export function isExternalOpenable(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
