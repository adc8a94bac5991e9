// Pull, push, build and load progress as the docker CLI shows it
// (pkg/jsonmessage): on a terminal one line per layer, rewritten in place with
// a bar; elsewhere one line per status change and no bars.
import { CliError } from '../command-context.js';

interface JsonMessage {
  id?: string;
  status?: string;
  stream?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

const humanSize4 = (n: number) => {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
};

/** jsonmessage.JSONProgress.String(). */
export function progressBar(current: number, total: number, width: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize4(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] ` : '';
  const numbers =
    current > total
      ? humanSize4(current).padStart(8)
      : `${humanSize4(current).padStart(8)}/${humanSize4(total)}`;
  return bar + numbers;
}

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Shows a stream of JSON messages; resolves with the last aux ID (a built or
 * loaded image), throws CliError on an error message.
 */
export async function showProgress(
  stream: NodeJS.ReadableStream,
  out: ProgressOutput,
  opts: { quiet?: boolean } = {},
): Promise<string | undefined> {
  const tty = out.isTTY === true && !opts.quiet;
  const width = out.columns ?? 200;
  const lines = new Map<string, number>(); // id → line index
  let lineCount = 0;
  let pending = '';
  let auxId: string | undefined;
  let error: string | undefined;

  const show = (m: JsonMessage) => {
    if (m.error || m.errorDetail?.message) {
      error = m.errorDetail?.message ?? m.error;
      return;
    }
    if (m.aux?.ID) auxId = m.aux.ID;
    if (opts.quiet) return;
    const detail = m.progressDetail ?? {};
    const bar = progressBar(detail.current ?? 0, detail.total ?? 0, width);
    if (m.stream !== undefined) {
      out.write(m.stream);
      if (tty) lineCount += (m.stream.match(/\n/g) ?? []).length;
      return;
    }
    if (m.status === undefined) return;
    if (!tty) {
      if (bar) return; // no progress bars off a terminal
      out.write(`${m.id ? `${m.id}: ` : ''}${m.status}\n`);
      return;
    }
    const text = `${m.id ? `${m.id}: ` : ''}${m.status}${bar ? ` ${bar}` : ''}`;
    if (m.id && lines.has(m.id)) {
      // Up to that layer's line, rewrite it, back down.
      const up = lineCount - (lines.get(m.id) as number);
      out.write(`\x1b[${up}A\r\x1b[2K${text}\r\x1b[${up}B`);
      return;
    }
    if (m.id) lines.set(m.id, lineCount);
    out.write(`\x1b[2K${text}\n`);
    lineCount++;
  };

  for await (const chunk of stream) {
    pending += Buffer.from(chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) show(JSON.parse(line) as JsonMessage);
    }
  }
  if (pending.trim()) show(JSON.parse(pending) as JsonMessage);
  if (error !== undefined) throw new CliError(error, 1);
  return auxId;
}
