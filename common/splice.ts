// Joins a local socket and an ssh2 channel both ways, as a TCP proxy does:
// half-closes pass through, and when one side closes the other is closed
// only once what it was already given has gone out. (Closing an ssh2 channel
// at once drops what still waits for the peer's window: up to 2 MiB of a
// download lost at its end.) An abrupt close (an error, or a close with no
// end first) ends the other side at once.
import type { Duplex } from 'node:stream';

/** Closes s after its writable side has finished (at once when it already has). */
function closeWhenWritten(s: Duplex): void {
  if (s.destroyed) return;
  if (s.writableFinished) {
    s.destroy();
    return;
  }
  s.once('finish', () => s.destroy());
  s.once('error', () => s.destroy());
  s.end();
}

function follow(from: Duplex, to: Duplex): void {
  let ended = false;
  from.once('end', () => (ended = true));
  from.on('error', () => from.destroy()); // its close follows
  from.once('close', () => (ended ? closeWhenWritten(to) : to.destroy()));
}

export function splice(local: Duplex, channel: Duplex): void {
  local.pipe(channel);
  channel.pipe(local);
  follow(local, channel);
  follow(channel, local);
}
