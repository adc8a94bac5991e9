// Why a running VM's QEMU ended, in the words `berth vm status` shows: a guest
// kernel panic (the kernel reboots at once, panic=-1, and -no-reboot ends QEMU)
// is read from the end of the console log; a signal names the signal.
import { promises as fs } from 'node:fs';

const AGAIN = '`berth vm start` starts it again';

/** The console's panic line ("Kernel panic - not syncing: …"), if the guest's last words were one. */
async function panicLine(serialLog: string): Promise<string | undefined> {
  let text: string;
  try {
    const h = await fs.open(serialLog, 'r');
    try {
      const { size } = await h.stat();
      const len = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(len);
      await h.read(buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      await h.close();
    }
  } catch {
    return undefined;
  }
  const lines = text.split(/\r?\n/).filter((l) => /Kernel panic - not syncing/.test(l));
  return lines
    .at(-1)
    ?.replace(/^\[[^\]]*\]\s*/, '')
    .trim();
}

export async function explainQemuExit(
  r: { exitCode?: number; signal?: string },
  serialLog: string,
): Promise<string> {
  const panic = await panicLine(serialLog);
  if (panic) return `the guest kernel panicked: ${panic}; ${AGAIN}`;
  if (r.signal) return `QEMU was killed (${r.signal}); ${AGAIN}`;
  return `QEMU exited (${r.exitCode ?? 'unknown'}) while the VM ran; ${AGAIN}`;
}
