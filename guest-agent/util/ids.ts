import { createHash, randomBytes } from 'node:crypto';

/** A 64-hex identifier, as dockerd makes for containers and exec instances. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
