// Short messages after actions (done, or failed and why), read by a live region.
import { createStore } from 'zustand/vanilla';

export interface Toast {
  id: number;
  kind: 'info' | 'error';
  text: string;
}

export interface ToastsState {
  toasts: Toast[];
  push(kind: Toast['kind'], text: string): void;
  dismiss(id: number): void;
}

let nextId = 1;

export const toasts = createStore<ToastsState>()((set) => ({
  toasts: [],
  push: (kind, text) => set((s) => ({ toasts: [...s.toasts.slice(-4), { id: nextId++, kind, text }] })),
  dismiss: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}));
