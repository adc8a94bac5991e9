// The engine's side of layer-stage-worker.ts: a layer's tar stream is handed,
// chunk by chunk, to a worker thread that unpacks, keeps and hashes it, so a
// pull's download and its unpacking each have a thread (dockerd gets the same
// from its goroutines and unpigz).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineError, type ErrorKind } from '../errors.js';
import { idMaps } from '../util/id-map.js';
import { log } from '../util/logger.js';
import { stageLayer, type StagedLayer } from './layer-stage.js';
import type { PostedError, StageWorkerData } from './layer-stage-worker.js';

/** Below this a layer is staged on the engine's thread: a worker costs a few milliseconds to start. */
export const WORKER_MIN_BYTES = 4 * 1024 * 1024;

/**
 * The worker: its bundle beside the engine's when bundled (scripts/build.mjs); else (the tests, under tsx) its
 * TypeScript source, loaded through tsx's loader, which a worker does not inherit.
 */
function startWorker(workerData: StageWorkerData): Worker | undefined {
  const here = import.meta.url;
  if (here.endsWith('.mjs')) {
    const script = new URL('./berth-stage-layer.mjs', here);
    return existsSync(fileURLToPath(script)) ? new Worker(script, { workerData }) : undefined;
  }
  const source = new URL('./layer-stage-worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

let warnedMissing = false;

export async function stageLayerOnWorker(
  tarStream: NodeJS.ReadableStream,
  workDir: string,
): Promise<StagedLayer> {
  const worker = startWorker({ workDir, idMaps: idMaps() });
  if (!worker) {
    if (!warnedMissing) log.warn('the layer unpacking worker is missing; unpacking on the main thread');
    warnedMissing = true;
    return stageLayer(tarStream, workDir);
  }
  let credit = 0;
  let wake: (() => void) | undefined;
  const finished = new Promise<StagedLayer>((resolve, reject) => {
    worker.on(
      'message',
      (
        m: { type: 'credit' } | { type: 'done'; staged: StagedLayer } | { type: 'error'; error: PostedError },
      ) => {
        if (m.type === 'credit') {
          credit++;
          wake?.();
        } else if (m.type === 'done') resolve(m.staged);
        else reject(revive(m.error));
      },
    );
    worker.on('error', reject);
    worker.on('exit', (code) =>
      reject(new Error(`the layer unpacking worker exited (${code}) before it was done`)),
    );
  });
  finished.catch(() => undefined); // raced below, awaited at the end
  try {
    for await (const chunk of tarStream) {
      while (credit === 0) {
        await Promise.race([new Promise<void>((r) => (wake = r)), finished]);
        wake = undefined;
      }
      credit--;
      // Copied to a buffer of its own, which moves to the worker: a Buffer is often a view into a larger
      // one (zlib's output, Node's pool), all of which a plain post would copy.
      const own = new Uint8Array(chunk as Uint8Array);
      worker.postMessage({ type: 'chunk', chunk: own }, [own.buffer]);
    }
    worker.postMessage({ type: 'end' });
    const staged = await finished;
    log.debug('layer unpacked on a worker thread', { diffId: staged.diffId });
    return staged;
  } finally {
    await worker.terminate();
  }
}

function revive(posted: PostedError): Error {
  if (posted.kind) return new EngineError(posted.kind as ErrorKind, posted.message);
  return Object.assign(new Error(posted.message), posted.code ? { code: posted.code } : {});
}
