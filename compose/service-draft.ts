// A service as one file describes it, normalised (lists and maps in one form,
// paths absolute) but before the files are merged and env_files are read.
import type { Lookup } from './interpolate.js';
import type { Service } from './model.js';

export interface EnvEntry {
  /** undefined: a bare KEY that neither the shell nor .env had. */
  value: string | undefined;
  usedVariables: boolean;
}

export interface EnvFileRef {
  path: string;
  required: boolean;
}

export type ServiceDraft = Partial<Omit<Service, 'environment' | 'name'>> & {
  name: string;
  environmentEntries: Record<string, EnvEntry>;
  envFiles: EnvFileRef[];
  /** label_file: read when the service is finished (labels: wins over them). */
  labelFiles?: string[];
  /** An included application's interpolation (its own .env), for its services' env_file and bare keys. */
  lookup?: Lookup;
  /** The file that last set this service, for error messages after the merge. */
  file: string;
};
