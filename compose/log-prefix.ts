// The "web-1  | " prefix compose puts before each log line, coloured per
// service with the palette docker compose cycles through.
const PALETTE = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export function prefixer(
  names: string[],
  serviceOf: (name: string) => string,
  color: boolean,
): (name: string) => string {
  const width = Math.max(0, ...names.map((n) => n.length));
  const services = [...new Set(names.map(serviceOf))].sort();
  return (name) => {
    const text = `${name.padEnd(width)}  | `;
    if (!color) return text;
    const code = PALETTE[services.indexOf(serviceOf(name)) % PALETTE.length];
    return `\x1b[${code}m${text}\x1b[0m`;
  };
}

/** Cuts a stream of chunks into whole lines (the last partial one kept until more comes, or flush()). */
export function lineSplitter(onLine: (line: string) => void): {
  push(chunk: Buffer | string): void;
  flush(): void;
} {
  let rest = '';
  return {
    push(chunk) {
      const text = rest + chunk.toString();
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l.replace(/\r$/, ''));
    },
    flush() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}
