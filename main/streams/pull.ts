// docker pull with per-layer progress for the Images view; cancel() drops the
// request, and the engine stores nothing of an interrupted pull.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { PullMessage } from '../../common/desktop-api.js';
import { onJsonLines } from '../json-lines.js';

interface ProgressLine {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

export async function pullImage(
  docker: Docker,
  image: string,
  onMessage: (m: PullMessage) => void,
): Promise<{ cancel(): void }> {
  const ref = image.includes(':') || image.includes('@') ? image : `${image}:latest`;
  const stream = (await docker.pull(ref)) as unknown as Readable;
  let failed = false;
  onJsonLines<ProgressLine>(stream, (p) => {
    if (p.error) {
      failed = true;
      onMessage({ type: 'error', message: p.errorDetail?.message ?? p.error });
      return;
    }
    onMessage({
      type: 'progress',
      id: p.id,
      status: p.status ?? '',
      current: p.progressDetail?.current,
      total: p.progressDetail?.total,
    });
  });
  stream.on('end', () => {
    if (!failed) onMessage({ type: 'done' });
  });
  stream.on('error', (err) => onMessage({ type: 'error', message: err.message }));
  return { cancel: () => stream.destroy() };
}
