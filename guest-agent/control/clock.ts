// time-sync: the guest's clock set to the host's. After the host sleeps, the
// guest's clock has stood still for as long; the host sends its time over the
// channel and this sets it (busybox date: whole seconds, which is what
// container logs and TLS checks need).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Sets the system clock to epochMs (UTC); resolves with the clock's new reading in ms. */
export async function setClock(epochMs: number): Promise<number> {
  // 2001-09-09 to 2286: a reading outside is a bad message, not a time.
  if (!Number.isFinite(epochMs) || epochMs < 1e12 || epochMs > 1e13)
    throw new Error(`not a time in milliseconds: ${epochMs}`);
  await run('date', ['-u', '-s', `@${Math.round(epochMs / 1000)}`]);
  return Date.now();
}
