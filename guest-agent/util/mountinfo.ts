// Mount points as the kernel lists them in /proc/<pid>/mountinfo.
import { promises as fs } from 'node:fs';

/** Field 5 of each line, the mount point, with mountinfo's octal escapes (\040 for a space) decoded. */
export function decodeMountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    out.push(fields[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** Mount points in the mount namespace of `pid` (default: this process's). */
export async function mountPoints(pid: number | 'self' = 'self'): Promise<string[]> {
  return decodeMountPoints(await fs.readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}
