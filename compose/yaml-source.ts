// One compose file parsed with its positions kept, so that errors about a key
// can name its line.
import { readFileSync } from 'node:fs';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type ScalarTag,
} from 'yaml';
import { ComposeError } from './errors.js';

export interface YamlSource {
  file: string;
  data: unknown;
  /** The 1-based line of the key at this path (or of the nearest enclosing key known). */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/**
 * 0440 is octal, as in YAML 1.1 and the go-yaml that Docker Compose reads files
 * with (YAML 1.2 would read 440): `mode: 0440` must mean r--r-----.
 */
const legacyOctal: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT',
  test: /^0[0-7]+$/,
  resolve: (text) => parseInt(text, 8),
};

export function readYamlSource(file: string, text = readFileSync(file, 'utf8')): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    merge: true,
    customTags: (tags) => [legacyOctal, ...tags],
  });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    // The parser's message says "at line N, column M:" and quotes the text; the line goes in front instead.
    const problem = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ComposeError(problem, { file, line: e.linePos?.[0].line });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ComposeError((err as Error).message, { file });
  }
  return { file, data, lineOf: (path) => lineOfPath(doc, lineCounter, path) };
}

function lineOfPath(
  doc: Document,
  lines: LineCounter,
  path: readonly (string | number)[],
): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined;
  const lineAt = (n: unknown) => {
    const range = (n as Node | undefined)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) return best;
      best = lineAt(pair.key) ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      best = lineAt(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}
