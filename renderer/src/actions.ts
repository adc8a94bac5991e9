// Calls made from buttons: each reports how it went in a toast.
import type { DesktopMethod, ParamsOf, ResultOf } from '../../common/desktop-api.js';
import { call } from './api/client.js';
import { toasts } from './stores/toasts.js';

export async function act<M extends DesktopMethod>(
  method: M,
  params: ParamsOf<M>,
  done?: string,
): Promise<ResultOf<M> | undefined> {
  try {
    const r = await call(method, params);
    if (done) toasts.getState().push('info', done);
    return r;
  } catch (err) {
    toasts.getState().push('error', (err as Error).message);
    return undefined;
  }
}

export async function copyText(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toasts.getState().push('info', `${what} copied`);
  } catch {
    // No clipboard permission (plain http, a test browser): show it to copy by hand.
    window.prompt(`Copy the ${what}:`, text);
  }
}
