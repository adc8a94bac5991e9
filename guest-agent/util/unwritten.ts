/** After a short write of `bufs` (writev), the part not yet written: whole buffers and the tail of one. */
export function unwritten<T extends Uint8Array>(bufs: T[], written: number): T[] {
  const rest: T[] = [];
  let skip = written;
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip > 0 ? (b.subarray(skip) as T) : b);
      skip = 0;
    }
  }
  return rest;
}
