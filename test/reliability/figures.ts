// The reliability tests' figures (kills survived, leaks, requests fuzzed, time
// to recover…), kept per test file under .test-artifacts/reliability/ so that
// bench/reliability-report.ts can print them together after a run.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../fixtures/image-cache.js';

export const figuresDir = path.join(repoRoot, '.test-artifacts', 'reliability');

export type Figures = Record<string, number | string>;

export async function recordFigures(name: string, figures: Figures): Promise<void> {
  await fs.mkdir(figuresDir, { recursive: true });
  const body = JSON.stringify({ name, at: new Date().toISOString(), figures }, null, 2);
  await fs.writeFile(path.join(figuresDir, `${name}.json`), body + '\n');
}

export async function readFigures(): Promise<Array<{ name: string; at: string; figures: Figures }>> {
  const files = (await fs.readdir(figuresDir).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  const all = await Promise.all(
    files.map(async (f) => JSON.parse(await fs.readFile(path.join(figuresDir, f), 'utf8'))),
  );
  // Other files there (a fuzz run's findings) are not figures.
  return all.filter((r) => r && typeof r.name === 'string' && r.figures);
}
