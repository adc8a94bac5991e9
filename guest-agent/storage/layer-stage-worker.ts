// A worker thread that stages one layer (layer-stage.ts) from the chunks the
// engine's thread posts to it. Built as its own bundle (dist/berth-stage-layer.mjs).
//
// Messages in: {type:'chunk', chunk} …, then {type:'end'}: the layer's bytes as
// downloaded (compressed as workerData says; they are decompressed here, off the
// engine's thread). Out: {type:'credit'} each time it can take one more chunk (so
// at most a few MiB wait in between), then {type:'done', staged} or
// {type:'error', error}.
import { parentPort, workerData } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { EngineError } from '../errors.js';
import { setIdMaps, type IdMaps } from '../util/id-map.js';
import { decompressedLayer, stageLayer, type StageCompression } from './layer-stage.js';

/** Chunks posted before the first is asked for: the download runs this far ahead of the unpacking. */
export const INITIAL_CREDIT = 4;

export interface StageWorkerData {
  workDir: string;
  compression: StageCompression;
  idMaps: IdMaps | undefined;
}

/** An error as it crosses to the engine's thread: its kind (EngineError) or system code survives. */
export interface PostedError {
  message: string;
  kind?: string;
  code?: string;
}

const port = parentPort;
if (port) {
  const { workDir, compression, idMaps } = workerData as StageWorkerData;
  setIdMaps(idMaps);
  const input = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      port.postMessage({ type: 'credit' });
    },
  });
  port.on('message', (m: { type: 'chunk'; chunk: Uint8Array } | { type: 'end' }) => {
    if (m.type === 'chunk') input.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
    else input.push(null);
  });
  for (let i = 0; i < INITIAL_CREDIT; i++) port.postMessage({ type: 'credit' });
  Promise.resolve()
    .then(() => stageLayer(decompressedLayer(input, compression), workDir))
    .then(
      (staged) => port.postMessage({ type: 'done', staged }),
      (err: unknown) => {
        const e = err as Error & { code?: string };
        const posted: PostedError = { message: e?.message ?? String(err), code: e?.code };
        if (err instanceof EngineError) posted.kind = err.kind;
        port.postMessage({ type: 'error', error: posted });
      },
    );
}
