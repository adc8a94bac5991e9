// The x86_64 kernel as an uncompressed ELF (vmlinux) that QEMU boots through
// its PVH entry point: no firmware real-mode setup and, above all, no xz
// decompression of the kernel in the guest, which under TCG costs seconds.
// Debian's bzImage carries vmlinux as an xz stream; xz (xz-utils) unpacks it
// here, and readelf checks that it has the PVH entry note.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exec } from '../util/exec.js';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point QEMU's PVH boot jumps to. */
const PVH_NOTE = /^\s*Xen\s+0x[0-9a-f]+\s+Unknown note type: \(0x00000012\)/m;

/**
 * Writes out (vmlinux) from bzImage and returns true, or returns false when
 * this kernel cannot be booted that way (another compression, no PVH note, no
 * xz here): the bzImage then boots as before.
 */
export async function extractPvhKernel(bzImage: string, out: string): Promise<boolean> {
  const data = await fs.readFile(bzImage);
  const at = data.indexOf(XZ_MAGIC);
  if (at < 0) return false;
  const work = await fs.mkdtemp(path.join(path.dirname(out), '.pvh-'));
  try {
    const xzFile = path.join(work, 'vmlinux.xz');
    await fs.writeFile(xzFile, data.subarray(at));
    // --single-stream: the bzImage's own trailer follows the stream.
    const r = await exec('xz', ['-d', '--single-stream', '-k', xzFile], { allowFailure: true });
    const vmlinux = path.join(work, 'vmlinux');
    if (r.exitCode !== 0) return false;
    const notes = await exec('readelf', ['-n', '--wide', vmlinux], { allowFailure: true });
    if (notes.exitCode !== 0 || !PVH_NOTE.test(notes.stdout)) return false;
    await fs.rename(vmlinux, out);
    return true;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
