// `compose logs`: every service container's output, each line prefixed with
// its container's name; with follow, until the streams end or the signal aborts.
import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import { lineSplitter, prefixer } from './log-prefix.js';
import type { Project } from './model.js';
import { projectContainers, type ProjectContainer } from './project-containers.js';
import { frameParser } from './stream-frames.js';

export interface LogsOptions {
  services?: string[];
  follow?: boolean;
  /** A number of lines, or "all". */
  tail?: string;
  timestamps?: boolean;
  /** Only lines from this unix time (seconds) on. */
  since?: number;
  color: boolean;
  write: (text: string) => void;
  signal?: AbortSignal;
  /** Only these containers (up without -d attaches to the ones it made). */
  containers?: ProjectContainer[];
}

export async function showLogs(docker: Dockerode, project: Project, o: LogsOptions): Promise<void> {
  const containers =
    o.containers ?? (await projectContainers(docker, project.name, { services: o.services, oneoff: false }));
  const bySvc = new Map(containers.map((c) => [c.name, c.service]));
  const prefix = prefixer(
    containers.map((c) => c.name),
    (n) => bySvc.get(n) ?? n,
    o.color,
  );
  const tail = o.tail === undefined || o.tail === 'all' ? undefined : Number(o.tail);
  await Promise.all(
    containers.map(async (c) => {
      const container = docker.getContainer(c.id);
      const tty = (await container.inspect()).Config.Tty;
      const lines = lineSplitter((line) => o.write(`${prefix(c.name)}${line}\n`));
      const feed = tty ? (chunk: Buffer) => lines.push(chunk) : frameParser((_s, data) => lines.push(data));
      const opts = {
        stdout: true,
        stderr: true,
        timestamps: o.timestamps ?? false,
        ...(tail !== undefined ? { tail } : {}),
        ...(o.since !== undefined ? { since: o.since } : {}),
      };
      if (!o.follow) {
        feed((await container.logs({ ...opts, follow: false })) as Buffer);
        lines.flush();
        return;
      }
      const stream = (await container.logs({ ...opts, follow: true })) as Readable;
      await new Promise<void>((resolve) => {
        const done = () => {
          lines.flush();
          resolve();
        };
        stream.on('data', (chunk: Buffer) => feed(chunk));
        stream.on('end', done);
        stream.on('close', done);
        stream.on('error', done);
        o.signal?.addEventListener('abort', () => {
          stream.destroy();
          done();
        });
      });
    }),
  );
}
