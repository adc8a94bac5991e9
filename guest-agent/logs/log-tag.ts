// The `tag` log option: a Go text/template over the container's log info, as dockerd's ParseLogTag renders
// it. Berth understands the part of the template language a tag uses: literal text, fields
// ({{.Name}}, {{.ImageName}}, …) and the pipeline functions dockerd's templates define for strings.
import { hostname } from 'node:os';
import { invalid } from '../errors.js';
import type { ContainerLogInfo } from './log-info.js';

export const DEFAULT_TAG_TEMPLATE = '{{.ID}}';
const TEMPLATE_NAME = 'log-tag';

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

// dockerd's logger.Info: its methods and its string fields, as a template sees them.
const FIELDS: Record<string, (info: ContainerLogInfo) => string> = {
  ID: (i) => shortId(i.id),
  FullID: (i) => i.id,
  Name: (i) => i.name.replace(/^\//, ''),
  Command: (i) => [i.entrypoint, ...i.args].join(' '),
  ImageID: (i) => shortId(i.imageId),
  ImageFullID: (i) => i.imageId,
  ImageName: (i) => i.imageName,
  Hostname: () => hostname(),
  DaemonName: () => 'docker',
  ContainerID: (i) => i.id,
  ContainerName: (i) => i.name,
  ContainerEntrypoint: (i) => i.entrypoint,
  ContainerImageID: (i) => i.imageId,
  ContainerImageName: (i) => i.imageName,
};

type StringFn = (value: string, args: string[]) => string;

function intArg(args: string[], i: number, fn: string): number {
  const a = args[i];
  if (a === undefined || !/^-?\d+$/.test(a)) {
    throw invalid(`template: ${TEMPLATE_NAME}: wrong arguments for function "${fn}": expected a number`);
  }
  return Number(a);
}

// dockerd's templates.basicFunctions that take and give a string.
const FUNCTIONS: Record<string, { arity: number; fn: StringFn }> = {
  lower: { arity: 0, fn: (v) => v.toLowerCase() },
  upper: { arity: 0, fn: (v) => v.toUpperCase() },
  title: {
    arity: 0,
    fn: (v) => v.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase()),
  },
  truncate: {
    arity: 1,
    fn: (v, args) => {
      const n = intArg(args, 0, 'truncate');
      return v.length < n ? v : v.slice(0, n);
    },
  },
  pad: {
    arity: 2,
    fn: (v, args) => {
      const before = intArg(args, 0, 'pad');
      const after = intArg(args, 1, 'pad');
      return v === '' ? v : ' '.repeat(before) + v + ' '.repeat(after);
    },
  },
};

type Piece = string | { field: string; column: number; calls: { name: string; args: string[] }[] };

/** Parses a tag template; throws dockerd-style template errors. */
function parse(template: string): Piece[] {
  const pieces: Piece[] = [];
  let pos = 0;
  for (;;) {
    const open = template.indexOf('{{', pos);
    if (open === -1) {
      if (pos < template.length) pieces.push(template.slice(pos));
      return pieces;
    }
    if (open > pos) pieces.push(template.slice(pos, open));
    const close = template.indexOf('}}', open + 2);
    const line = template.slice(0, open).split('\n').length;
    if (close === -1) throw invalid(`template: ${TEMPLATE_NAME}:${line}: unclosed action`);
    const action = template
      .slice(open + 2, close)
      .replace(/^-\s/, '')
      .replace(/\s-$/, '');
    const stages = action.split('|').map((s) => s.trim());
    const head = stages[0]!;
    const field = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(head);
    if (!field) {
      throw invalid(
        `template: ${TEMPLATE_NAME}:${line}: unsupported action {{${action}}} in log tag: Berth supports fields such as {{.Name}} piped into ${Object.keys(FUNCTIONS).join(', ')}`,
      );
    }
    const calls = stages.slice(1).map((stage) => {
      const [name = '', ...args] = stage.split(/\s+/);
      const known = FUNCTIONS[name];
      if (!known) throw invalid(`template: ${TEMPLATE_NAME}:${line}: function "${name}" not defined`);
      if (args.length !== known.arity) {
        throw invalid(
          `template: ${TEMPLATE_NAME}:${line}: wrong number of args for ${name}: want ${known.arity + 1} got ${args.length + 1}`,
        );
      }
      return { name, args };
    });
    const column = open - (template.lastIndexOf('\n', open) + 1) + 2;
    pieces.push({ field: field[1]!, column, calls });
    pos = close + 2;
  }
}

function render(pieces: Piece[], info: ContainerLogInfo): string {
  let out = '';
  for (const p of pieces) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    const get = FIELDS[p.field];
    if (!get) {
      throw invalid(
        `template: ${TEMPLATE_NAME}:1:${p.column}: executing "${TEMPLATE_NAME}" at <.${p.field}>: can't evaluate field ${p.field} in type *logger.Info`,
      );
    }
    let v = get(info);
    for (const c of p.calls) v = FUNCTIONS[c.name]!.fn(v, c.args);
    out += v;
  }
  return out;
}

/** At create: the template parses and names only fields that exist. */
export function validateLogTag(template: string): void {
  const pieces = parse(template);
  for (const p of pieces) {
    if (typeof p !== 'string' && !FIELDS[p.field]) render([p], PLACEHOLDER_INFO);
  }
}

const PLACEHOLDER_INFO: ContainerLogInfo = {
  id: '',
  name: '',
  imageId: '',
  imageName: '',
  entrypoint: '',
  args: [],
  env: [],
  labels: {},
};

/**
 * The tag for a container, as dockerd's ParseLogTag: the `tag` option's template, else `defaultTemplate`
 * ('' for json-file and local, which then add no tag; {{.ID}} for fluentd).
 */
export function renderLogTag(
  config: Record<string, string>,
  info: ContainerLogInfo,
  defaultTemplate: string,
): string {
  const template = config['tag'] || defaultTemplate;
  if (template === '') return '';
  return render(parse(template), info);
}
