// The detach sequence (default ctrl-p ctrl-q) in an attached client's input:
// bytes that could start the sequence are held back until it is complete
// (detach) or broken (they are passed on).
import { invalid } from '../errors.js';

const DEFAULT_KEYS = 'ctrl-p,ctrl-q';

export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) bytes.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const ch = k[5].toLowerCase();
      // ctrl-a … ctrl-z are 1 … 26; ctrl-@ [ \ ] ^ _ are 0 and 27 … 31.
      bytes.push(
        ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : [0, 27, 28, 29, 30, 31]['@[\\]^_'.indexOf(ch)],
      );
    } else throw invalid(`Invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(bytes);
}

export class DetachKeyScanner {
  private readonly keys: Buffer;
  private matched = 0;

  constructor(spec?: string) {
    this.keys = parseDetachKeys(spec ?? DEFAULT_KEYS);
  }

  feed(chunk: Buffer): { data: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detached: true };
        continue;
      }
      // Sequence broken: release what was held back.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { data: Buffer.from(out), detached: false };
  }
}
