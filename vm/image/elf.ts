// The shared libraries an ELF file needs (DT_NEEDED) and its program
// interpreter, read with readelf so that it works for any target architecture.
import { exec } from '../util/exec.js';

export interface ElfDeps {
  needed: string[];
  interpreter?: string;
}

export async function elfDeps(file: string): Promise<ElfDeps | undefined> {
  const r = await exec('readelf', ['-d', '-l', '--wide', file], { allowFailure: true });
  if (r.exitCode !== 0) return undefined; // not an ELF file (a script)
  const needed = [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(r.stdout)?.[1];
  return { needed, interpreter: interp };
}
