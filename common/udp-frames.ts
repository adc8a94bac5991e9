// UDP over the host↔guest channel: ssh2 carries streams, not datagrams, so a
// forwarded UDP port's datagrams travel on an exec channel
// (CONTROL_COMMANDS.udpForward), each as a 2-byte big-endian length and its
// bytes. One channel per host-side client keeps replies going to the sender.

/** The largest UDP payload (65535 − 8-byte UDP header − 20-byte IPv4 header). */
export const MAX_DATAGRAM = 65_507;

export function encodeFrame(datagram: Buffer): Buffer {
  if (datagram.length > MAX_DATAGRAM) throw new Error(`datagram of ${datagram.length} bytes is too large`);
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(datagram.length);
  return Buffer.concat([head, datagram]);
}

/** Splits a byte stream back into datagrams, whatever the chunk boundaries. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onDatagram: (d: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 2) {
      const len = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + len) break;
      this.onDatagram(this.pending.subarray(2, 2 + len));
      this.pending = this.pending.subarray(2 + len);
    }
  }
}
