// A record of the temp dirs that tests make (engines, docker configs), so that
// the test runner can remove what a killed or leaky test left behind.
// scripts/test.mjs sets BERTH_TEST_LEFTOVERS to a file; each dir is appended to it.
import { appendFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { killProcessesUsing, unmountUnder } from './host-cleanup.js';

export function recordForSweep(dir: string): void {
  const registry = process.env.BERTH_TEST_LEFTOVERS;
  if (registry) appendFileSync(registry, dir + '\n');
}

/** Kills what runs from each dir, unmounts what is mounted under it, removes it. Returns the dirs that were still there. */
export async function sweep(dirs: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of new Set(dirs)) {
    // Only what recordForSweep can have written: absolute paths of our own temp dirs.
    if (!path.isAbsolute(dir) || !path.basename(dir).startsWith('berth-')) continue;
    if (!(await fs.stat(dir).catch(() => undefined))) continue;
    found.push(dir);
    await killProcessesUsing(dir);
    await unmountUnder(dir);
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  return found;
}
