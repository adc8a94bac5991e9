// The window's preload: exposes the contract (common/desktop-api.ts) as
// window.berth through contextBridge, and nothing else of Node or Electron.
import { contextBridge, ipcRenderer } from 'electron';
import type { DesktopApi, DesktopMethod, ParamsOf, ResultOf } from '../../common/desktop-api.js';
import { CALL_CHANNEL, SERVER_CHANNEL, type CallEnvelope } from './ipc-call.js';

const server = ipcRenderer.sendSync(SERVER_CHANNEL) as { origin: string; token: string };
const withToken = (p: string) =>
  `${p}${p.includes('?') ? '&' : '?'}token=${encodeURIComponent(server.token)}`;

const api: DesktopApi = {
  async call<M extends DesktopMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const r = (await ipcRenderer.invoke(CALL_CHANNEL, method, params)) as CallEnvelope;
    if (r.ok) return r.result as ResultOf<M>;
    // A plain object crosses the bridge; the renderer's call() reads error/status/fields.
    throw { error: r.error, status: r.status, fields: r.fields, message: r.error };
  },
  streamUrl: (p) => withToken(`${server.origin.replace(/^http/, 'ws')}${p}`),
  httpUrl: (p) => withToken(`${server.origin}${p}`),
};

contextBridge.exposeInMainWorld('berth', api);
