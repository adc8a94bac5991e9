// A failed docker command through the VM says little by itself (an EOF, a
// daemon error): the guest's console, where the engine logs, says why.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** The last lines of the VM's console log under a BERTH_HOME. */
export async function consoleTail(home: string, lines = 80): Promise<string> {
  const text = await fs.readFile(path.join(home, 'vm', 'console.log'), 'utf8').catch(() => '');
  return text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r?\n/)
    .slice(-lines)
    .join('\n');
}

/** Fails with the command's stderr and the guest console's tail when it did not exit 0. */
export async function assertOkInVm(r: { code: number; stderr: string }, home: string): Promise<void> {
  if (r.code === 0) return;
  assert.fail(`exit ${r.code}: ${r.stderr}\n--- the guest console's last lines:\n${await consoleTail(home)}`);
}
