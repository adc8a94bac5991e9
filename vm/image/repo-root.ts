// The Berth checkout (or install) this code runs from: the image build reads
// the engine bundles and the guest init from it. Found by walking up to
// Berth's package.json, so it works from the sources (tsx) and from dist/.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function repoRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'berth') {
      return (cached = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the Berth installation (package.json named "berth")');
    dir = up;
  }
}
