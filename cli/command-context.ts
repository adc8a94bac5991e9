// What every docker-compatible command gets, and how its failures become the
// docker CLI's messages and exit codes.
import type Docker from 'dockerode';
import type { StdIo } from '../compose/attached-io.js';
import type { Endpoint } from './engine-endpoint.js';
import { UsageError } from './flag-parser.js';

export interface CommandContext {
  docker: Docker;
  endpoint: Endpoint;
  io: StdIo;
  env: NodeJS.ProcessEnv;
}

export type CommandHandler = (ctx: CommandContext, argv: string[]) => Promise<number>;

/** An error with the exit code the docker CLI gives it. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

interface DockerodeError {
  statusCode?: number;
  json?: { message?: string } | string | null;
  reason?: string;
  code?: string;
  message: string;
}

/** The daemon's message of a failed request, or undefined when it was not an answer from the daemon. */
export function daemonMessage(err: unknown): string | undefined {
  const e = err as DockerodeError;
  if (typeof e?.statusCode !== 'number') return undefined;
  if (e.json && typeof e.json === 'object' && e.json.message) return e.json.message;
  if (typeof e.json === 'string' && e.json) return e.json.trim();
  return e.reason ?? e.message;
}

export function isNotFound(err: unknown): boolean {
  return (err as DockerodeError)?.statusCode === 404;
}

/** The line the docker CLI prints for an error (without "berth: "), and its exit code. */
export function describeError(
  err: unknown,
  endpoint: Endpoint,
  daemonExit = 1,
): { text: string; code: number } {
  if (err instanceof UsageError) return { text: err.message, code: 125 };
  if (err instanceof CliError) return { text: err.message, code: err.exitCode };
  const msg = daemonMessage(err);
  if (msg !== undefined) return { text: `Error response from daemon: ${msg}`, code: daemonExit };
  const code = (err as DockerodeError)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES') {
    return {
      text: `Cannot connect to the Docker daemon at ${endpoint.host}. Is the docker daemon running?`,
      code: daemonExit,
    };
  }
  return { text: (err as Error)?.message ?? String(err), code: daemonExit };
}

/** For commands acting on several objects (stop a b c): each printed or its error reported; 1 if any failed. */
export async function eachTarget(
  ctx: CommandContext,
  targets: string[],
  act: (target: string) => Promise<string | undefined>,
): Promise<number> {
  if (!targets.length) throw new UsageError('requires at least 1 argument');
  let failed = false;
  for (const t of targets) {
    try {
      const line = await act(t);
      if (line !== undefined) ctx.io.stdout.write(`${line}\n`);
    } catch (err) {
      failed = true;
      ctx.io.stderr.write(`${describeError(err, ctx.endpoint).text}\n`);
    }
  }
  return failed ? 1 : 0;
}

export const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** -f key=value filters → the API's {key: [values]}. */
export function filtersOf(v: unknown): Record<string, string[]> | undefined {
  const out: Record<string, string[]> = {};
  for (const f of asList(v)) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value)`);
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return Object.keys(out).length ? out : undefined;
}

/** Reads a whole stream (e.g. a small JSON answer). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** Options without their undefined members: dockerode would send `key=` for them. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
