// Printing a list as the docker CLI does: a table (default or `table …`), a
// Go template per item, `json` (one JSON object a line) or only IDs (-q).
import { alignColumns } from './tabwriter.js';
import { goJson, MARSHALS_ESCAPED, parseTemplate } from './template.js';

export interface ListFormat {
  /** The table docker prints without --format, e.g. "table {{.ID}}\t{{.Image}}". */
  defaultTable: string;
  /** Column headers by field name (a function for a method-like field); a field without one is headed by its name in capitals. */
  headers: Record<string, string | ((...args: string[]) => string)>;
  /** What -q prints. */
  quietField: string;
}

export interface ListOptions {
  format?: string;
  quiet?: boolean;
}

/** The text to write (ends with a newline unless empty). */
/** A row with its fields in name order: docker's rows are Go maps, which {{json .}} prints sorted. */
function sortedRow(row: object): object {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(row).sort()) out[k] = (row as Record<string, unknown>)[k];
  for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(row)))
    if (!d.enumerable) Object.defineProperty(out, k, d);
  // docker's rows marshal themselves with json.Marshal, which escapes <, > and &.
  Object.defineProperty(out, MARSHALS_ESCAPED, { value: true, enumerable: false });
  return out;
}

/**
 * Whether running `format` reads `field` of a row with these fields, as the
 * docker CLI finds out before asking for costly fields (ps asks for sizes only
 * when the template shows .Size, {{json .}} included).
 */
export function templateUses(format: string | undefined, fields: string[], field: string): boolean {
  if (!format) return false;
  const used = new Set<string>();
  const probe: Record<string, unknown> = {};
  for (const f of fields)
    Object.defineProperty(probe, f, {
      enumerable: true,
      get: () => {
        used.add(f);
        return '';
      },
    });
  let source = format.trim();
  if (source === 'json') source = '{{json .}}';
  if (source.startsWith('table')) source = source.slice('table'.length);
  try {
    parseTemplate(source).execute(probe);
  } catch {
    // A bad template is reported when it runs on the real rows.
  }
  return used.has(field);
}

export function formatList(input: object[], spec: ListFormat, opts: ListOptions): string {
  const rows = input.map(sortedRow);
  let format = opts.format?.trim() || spec.defaultTable;
  if (opts.quiet) format = `{{.${spec.quietField}}}`;
  if (format === 'json') format = '{{json .}}';
  if (format === 'table') format = spec.defaultTable;
  if (format.startsWith('table ')) {
    const tmpl = parseTemplate(format.slice('table '.length));
    const header = new Proxy(
      {},
      {
        get: (_t, name) =>
          typeof name === 'string'
            ? (spec.headers[name] ?? name.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase())
            : undefined,
      },
    );
    const lines = [tmpl.execute(header), ...rows.map((r) => tmpl.execute(r))];
    return alignColumns(lines.join('\n')) + '\n';
  }
  const tmpl = parseTemplate(format);
  return rows.map((r) => tmpl.execute(r) + '\n').join('');
}

export { goJson };
