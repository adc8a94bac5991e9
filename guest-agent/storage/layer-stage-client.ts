// The engine's side of layer-stage-worker.ts: a layer's bytes, as downloaded, are
// handed in batches of about a MiB to a worker thread that decompresses, unpacks,
// keeps and hashes them, so a pull's download and its unpacking each have a
// thread (dockerd gets the same from its goroutines and unpigz). Compressed bytes
// cross rather than the tar: fewer of them, and the decompressor's per-chunk
// work is off the engine's thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineError, type ErrorKind } from '../errors.js';
import { idMaps } from '../util/id-map.js';
import { log } from '../util/logger.js';
import { decompressedLayer, stageLayer, type StageCompression, type StagedLayer } from './layer-stage.js';
import type { PostedError, StageWorkerData } from './layer-stage-worker.js';

/** Below this a layer is staged on the engine's thread: a worker costs a few milliseconds to start. */
export const WORKER_MIN_BYTES = 4 * 1024 * 1024;

/**
 * Chunks are gathered up to this many bytes before they are posted: a socket delivers 64 KiB at a time, and
 * each post (and each chunk the worker's streams then handle) has a cost of its own.
 */
const POST_BYTES = 1024 * 1024;

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

/** Stage a layer from its bytes, compressed as `compression` says, on a worker thread. */
export async function stageLayerOnWorker(
  layerStream: NodeJS.ReadableStream,
  workDir: string,
  compression: StageCompression = 'none',
): Promise<StagedLayer> {
  const worker = startWorker({ workDir, compression, idMaps: idMaps() });
  if (!worker) {
    if (!warnedMissing) log.warn('the layer unpacking worker is missing; unpacking on the main thread');
    warnedMissing = true;
    return stageLayer(decompressedLayer(layerStream, compression), workDir);
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
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const post = async () => {
    while (credit === 0) {
      await Promise.race([new Promise<void>((r) => (wake = r)), finished]);
      wake = undefined;
    }
    credit--;
    // Copied into a buffer of its own, which moves to the worker: a Buffer is often a view into a larger
    // one (Node's pool, a socket read), all of which a plain post would copy.
    const own = Buffer.allocUnsafeSlow(pendingBytes);
    let at = 0;
    for (const c of pending) {
      own.set(c, at);
      at += c.length;
    }
    pending.length = 0;
    pendingBytes = 0;
    worker.postMessage({ type: 'chunk', chunk: own }, [own.buffer]);
  };
  try {
    for await (const chunk of layerStream) {
      const c = chunk as Uint8Array;
      pending.push(c);
      pendingBytes += c.length;
      if (pendingBytes >= POST_BYTES) await post();
    }
    if (pendingBytes > 0) await post();
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
