// The IPC side of the contract: a call from the window's preload, checked for
// where it comes from and what it names, answered as an envelope (Electron's
// IPC keeps only an error's message, so the status and fields travel as data).
import type { DesktopError, DesktopMethod } from '../../common/desktop-api.js';
import { toDesktopError } from '../errors.js';

export const CALL_CHANNEL = 'berth:call';
export const SERVER_CHANNEL = 'berth:server';

export type CallEnvelope = { ok: true; result: unknown } | ({ ok: false } & DesktopError);

export interface CallTarget {
  isMethod(name: string): name is DesktopMethod;
  call(method: DesktopMethod, params: never): Promise<unknown>;
}

export async function handleCall(
  backend: CallTarget,
  senderUrl: string,
  dashboardOrigin: string,
  method: unknown,
  params: unknown,
): Promise<CallEnvelope> {
  let origin = '';
  try {
    origin = new URL(senderUrl).origin;
  } catch {
    // not a URL: refused below
  }
  if (origin !== dashboardOrigin)
    return { ok: false, error: `calls come from the dashboard only, not ${senderUrl}`, status: 403 };
  if (typeof method !== 'string' || !backend.isMethod(method))
    return { ok: false, error: `no such method: ${String(method)}`, status: 404 };
  try {
    return { ok: true, result: (await backend.call(method, (params ?? {}) as never)) ?? null };
  } catch (err) {
    return { ok: false, ...toDesktopError(err) };
  }
}
