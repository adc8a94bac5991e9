// Small hooks: the hash route, a zustand store, and data loaded from a call.
import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import type { StoreApi } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { call } from './api/client.js';
import type { DesktopMethod, ParamsOf, ResultOf } from '../../common/desktop-api.js';

export function useHash(): string[] {
  const hash = useSyncExternalStore(
    (cb) => {
      window.addEventListener('hashchange', cb);
      return () => window.removeEventListener('hashchange', cb);
    },
    () => location.hash,
  );
  return hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

export function go(...parts: string[]): void {
  location.hash = '#/' + parts.map(encodeURIComponent).join('/');
}

export function useVanilla<S, T>(store: StoreApi<S>, selector: (s: S) => T): T {
  return useStore(store, selector);
}

/** Loads from one call; reloads when deps change or reload() is called. */
export function useCall<M extends DesktopMethod>(
  method: M,
  params: ParamsOf<M>,
  deps: unknown[],
): { data?: ResultOf<M>; error?: string; loading: boolean; reload(): void } {
  const [state, setState] = useState<{ data?: ResultOf<M>; error?: string; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    call(method, params).then(
      (data) => live && setState({ data, loading: false }),
      (err: Error) => live && setState({ error: err.message, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}
