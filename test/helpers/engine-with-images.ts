// An engine with busybox:latest loaded: the usual start of an engine test file.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { busyboxArchive } from '../fixtures/busybox-image.js';
import { docker } from './docker.js';
import { startEngine, type TestEngine } from './engine.js';

/** Registers before/after hooks; the returned getter is valid inside tests. */
export function useEngineWithBusybox(opts: { extraArgs?: string[] } = {}): () => TestEngine {
  let engine: TestEngine | undefined;
  before(async () => {
    engine = await startEngine(opts);
    const load = await docker(engine, ['load', '-i', await busyboxArchive()]);
    assert.equal(load.code, 0, load.stderr);
  });
  after(async () => {
    if (engine) {
      // Containers left by the tests go first, so that the engine's stop need
      // not wait out their stop timeouts.
      const left = (await docker(engine, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (left.length) await docker(engine, ['rm', '-f', ...left]);
    }
    await engine?.cleanup();
  });
  return () => {
    if (!engine) throw new Error('engine not started');
    return engine;
  };
}

/** Polls until fn returns a truthy value or the time is up. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
