// The dashboard's one way out: the contract (common/desktop-api.ts), from
// Electron's preload when it is there, else over the headless server (same
// origin; the token travels as an HttpOnly cookie).
import type {
  DesktopApi,
  DesktopError,
  DesktopMethod,
  ParamsOf,
  ResultOf,
} from '../../../common/desktop-api.js';

declare global {
  interface Window {
    berth?: DesktopApi;
  }
}

export class CallError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

function browserApi(): DesktopApi {
  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  return {
    async call<M extends DesktopMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
      const res = await fetch(`/api/call/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params ?? {}),
        credentials: 'same-origin',
      });
      const body = (await res.json().catch(() => ({}))) as { result?: ResultOf<M> } & Partial<DesktopError>;
      if (!res.ok)
        throw new CallError(body.error ?? `${res.status} ${res.statusText}`, res.status, body.fields);
      return body.result as ResultOf<M>;
    },
    streamUrl: (p) => `${wsBase}${p}`,
    httpUrl: (p) => p,
  };
}

export const api: DesktopApi = window.berth ?? browserApi();

/** Calls and turns a failure into a CallError with the fields (Electron's IPC loses the class). */
export async function call<M extends DesktopMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
  try {
    return await api.call(method, params);
  } catch (err) {
    if (err instanceof CallError) throw err;
    const e = err as Partial<DesktopError> & Error;
    throw new CallError(e.error ?? e.message, e.status ?? 500, e.fields);
  }
}

/** A JSON-message stream; returns close(). Binary frames go to onBinary. */
export function openStream<T>(
  pathAndQuery: string,
  handlers: {
    onMessage(m: T): void;
    onBinary?(d: ArrayBuffer): void;
    onClose?(ev: CloseEvent): void;
    onOpen?(ws: WebSocket): void;
  },
): WebSocket {
  const ws = new WebSocket(api.streamUrl(pathAndQuery));
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => handlers.onOpen?.(ws);
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') handlers.onMessage(JSON.parse(ev.data) as T);
    else handlers.onBinary?.(ev.data as ArrayBuffer);
  };
  ws.onclose = (ev) => handlers.onClose?.(ev);
  return ws;
}
