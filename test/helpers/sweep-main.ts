// `node --import tsx test/helpers/sweep-main.ts REGISTRY`: run by scripts/test.mjs
// after the suite; removes every recorded temp dir that still exists and prints one per line.
import { readFileSync } from 'node:fs';
import { sweep } from './leftovers.js';

const registry = process.argv[2];
const dirs = registry ? readFileSync(registry, 'utf8').split('\n').filter(Boolean) : [];
for (const dir of await sweep(dirs)) console.log(dir);
