// Docker's multiplexed stream framing (stdcopy): an 8-byte header
// [stream, 0, 0, 0, size uint32 BE] before each payload.
export const STREAM_IDS = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 } as const;

export function frame(stream: keyof typeof STREAM_IDS, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = STREAM_IDS[stream];
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}
