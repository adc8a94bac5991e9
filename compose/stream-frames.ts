// The Engine API's multiplexed stdout/stderr stream (8-byte headers: stream
// type, 3 zero bytes, big-endian length), parsed as chunks arrive.
export type FrameSink = (stream: 'stdout' | 'stderr', data: Buffer) => void;

export function frameParser(sink: FrameSink): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      sink(pending[0] === 2 ? 'stderr' : 'stdout', pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
}
