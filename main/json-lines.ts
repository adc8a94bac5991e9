// Splits a byte stream of newline-delimited JSON (engine events, stats, pull
// progress) into parsed objects; chunks may cut a line anywhere.
import type { Readable } from 'node:stream';

export function onJsonLines<T>(stream: Readable, onObject: (value: T) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      try {
        onObject(JSON.parse(line) as T);
      } catch {
        // a line that is not JSON: nothing to show
      }
    }
  });
}
