// A failed docker command through the VM says little by itself (an EOF, a
// daemon error): the guest's console, where the engine logs, says why.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Where the kernel starts reporting its first fault; a lockup's later traces only show its victims. */
const FIRST_FAULT =
  /Unable to handle kernel|Internal error:|kernel BUG at|BUG: |Oops|general protection fault|WARNING: CPU:/;

/**
 * The last lines of the VM's console log under a BERTH_HOME, after the first
 * kernel fault's report when the log has one before them.
 */
export async function consoleTail(home: string, lines = 80): Promise<string> {
  const text = await fs.readFile(path.join(home, 'vm', 'console.log'), 'utf8').catch(() => '');
  const all = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n/);
  const tail = all.slice(-lines);
  const first = all.findIndex((line) => FIRST_FAULT.test(line));
  if (first < 0 || first >= all.length - lines) return tail.join('\n');
  const fault = all.slice(Math.max(0, first - 5), Math.min(first + 45, all.length - lines));
  return [...fault, '[…]', ...tail].join('\n');
}

/** Fails with the command's stderr and the guest console's tail when it did not exit 0. */
export async function assertOkInVm(r: { code: number; stderr: string }, home: string): Promise<void> {
  if (r.code === 0) return;
  assert.fail(`exit ${r.code}: ${r.stderr}\n--- the guest console's last lines:\n${await consoleTail(home)}`);
}
