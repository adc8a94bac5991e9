// The Settings view's form: the values being edited, each field's message from
// the shared rules (common/settings.ts) as the user types, and the save.
import { createStore } from 'zustand/vanilla';
import type { Settings, SettingsSaveResult } from '../../../common/desktop-api.js';
import { validateSettings } from '../../../common/settings.js';

export interface SettingsFormState {
  saved?: Settings;
  values?: Settings;
  errors: Record<string, string>;
  saving: boolean;
  /** After a save: what needs a VM restart (empty: nothing). */
  result?: SettingsSaveResult;
  saveError?: string;
  load(): Promise<void>;
  edit(patch: Partial<Settings>): void;
  save(): Promise<boolean>;
  reset(): void;
}

export interface SettingsApi {
  get(): Promise<Settings>;
  save(s: Settings): Promise<SettingsSaveResult>;
}

export function createSettingsForm(api: SettingsApi, limits: { hostCpus: number; hostMemoryMiB: number }) {
  return createStore<SettingsFormState>()((set, get) => ({
    errors: {},
    saving: false,
    load: async () => {
      const saved = await api.get();
      set({ saved, values: saved, errors: {}, result: undefined, saveError: undefined });
    },
    edit: (patch) =>
      set((s) => {
        if (!s.values) return {};
        const values = { ...s.values, ...patch };
        return { values, errors: validateSettings(values, limits), result: undefined };
      }),
    save: async () => {
      const { values } = get();
      if (!values) return false;
      const errors = validateSettings(values, limits);
      if (Object.keys(errors).length > 0) {
        set({ errors });
        return false;
      }
      set({ saving: true, saveError: undefined });
      try {
        const result = await api.save(values);
        set({ saving: false, saved: result.settings, values: result.settings, result });
        return true;
      } catch (err) {
        const e = err as Error & { fields?: Record<string, string> };
        set({ saving: false, saveError: e.message, errors: e.fields ?? {} });
        return false;
      }
    },
    reset: () => set((s) => ({ values: s.saved, errors: {}, result: undefined })),
  }));
}

export function isDirty(s: Pick<SettingsFormState, 'saved' | 'values'>): boolean {
  return JSON.stringify(s.saved) !== JSON.stringify(s.values);
}
