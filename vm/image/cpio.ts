// Writes a directory tree as a gzip-compressed "newc" cpio archive, the format
// the Linux kernel unpacks as its initramfs. Entries are sorted and carry fixed
// owners and times, so the same tree always gives the same bytes.
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';

const S_IFMT = 0o170000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function header(ino: number, mode: number, size: number, name: string, rdev = 0): Buffer {
  const nameBytes = Buffer.from(name + '\0');
  const fields = [
    '070701',
    hex8(ino),
    hex8(mode),
    hex8(0), // uid: root
    hex8(0), // gid: root
    hex8(1), // nlink
    hex8(0), // mtime: fixed, for reproducible archives
    hex8(size),
    hex8(0),
    hex8(0),
    hex8(rdev >> 8),
    hex8(rdev & 0xff),
    hex8(nameBytes.length),
    hex8(0),
  ].join('');
  const head = Buffer.concat([Buffer.from(fields, 'ascii'), nameBytes]);
  return Buffer.concat([head, Buffer.alloc(pad4(head.length))]);
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

async function* entries(root: string): AsyncGenerator<Buffer> {
  let ino = 1;
  async function* walk(rel: string): AsyncGenerator<Buffer> {
    const names = (await fs.readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, relPath);
      const st = await fs.lstat(abs);
      const type = st.mode & S_IFMT;
      if (st.isSymbolicLink()) {
        const target = Buffer.from(await fs.readlink(abs));
        yield header(ino++, st.mode, target.length, relPath);
        yield Buffer.concat([target, Buffer.alloc(pad4(target.length))]);
      } else if (st.isFile()) {
        const data = await fs.readFile(abs);
        yield header(ino++, st.mode, data.length, relPath);
        yield data;
        if (pad4(data.length)) yield Buffer.alloc(pad4(data.length));
      } else if (st.isDirectory()) {
        yield header(ino++, st.mode, 0, relPath);
        yield* walk(relPath);
      } else if (type === 0o020000 || type === 0o060000) {
        yield header(ino++, st.mode, 0, relPath, Number(st.rdev));
      }
    }
  }
  yield* walk('');
  yield header(0, 0, 0, 'TRAILER!!!');
}

/** Writes root's tree to out as a gzip'd newc cpio. */
export async function writeCpioGz(root: string, out: string): Promise<void> {
  await pipeline(Readable.from(entries(root)), zlib.createGzip({ level: 6 }), createWriteStream(out));
}
