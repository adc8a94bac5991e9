import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { EngineError } from '../../guest-agent/errors.js';
import {
  JsonFileLogger,
  encodeJsonLogEntry,
  encodeJsonLogLines,
  parseJsonFileOptions,
} from '../../guest-agent/logs/json-file-writer.js';
import { LineSplitter } from '../../guest-agent/logs/line-splitter.js';
import { readJsonFileLogs } from '../../guest-agent/logs/json-file-reader.js';
import type { LogMessage } from '../../guest-agent/logs/log-types.js';

const T = 1714566896n * 1_000_000_000n; // 2024-05-01T12:34:56Z

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-logs-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const msg = (line: string | Buffer, timeNs: bigint, stream: 'stdout' | 'stderr' = 'stdout'): LogMessage => ({
  stream,
  line: typeof line === 'string' ? Buffer.from(line) : line,
  timeNs,
});

const stopped = { isRunning: () => false, onWrite: () => () => undefined };

async function readAll(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of readJsonFileLogs(path, { stdout: true, stderr: true, follow: false }, stopped)) {
    out.push(m.line.toString());
  }
  return out;
}

test('lines are written byte for byte in dockerd json-file format, mode 0640', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, {});
  logger.log(msg('hello\n', T + 123456789n));
  logger.log(msg('oops\n', T + 120000000n, 'stderr'));
  logger.log(msg('whole\n', T));
  logger.log(msg('partial piece', T + 1n));
  logger.log(msg('', T + 2n));
  await logger.close();
  assert.equal(
    readFileSync(path, 'utf8'),
    '{"log":"hello\\n","stream":"stdout","time":"2024-05-01T12:34:56.123456789Z"}\n' +
      '{"log":"oops\\n","stream":"stderr","time":"2024-05-01T12:34:56.12Z"}\n' +
      '{"log":"whole\\n","stream":"stdout","time":"2024-05-01T12:34:56Z"}\n' +
      '{"log":"partial piece","stream":"stdout","time":"2024-05-01T12:34:56.000000001Z"}\n' +
      '{"stream":"stdout","time":"2024-05-01T12:34:56.000000002Z"}\n',
  );
  assert.equal(statSync(path).mode & 0o777, 0o640);
});

test('escaping matches dockerd: HTML characters, control bytes, U+2028/9, invalid UTF-8', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, {});
  const line = Buffer.concat([
    Buffer.from('<a href="x">&\t\\\r\x01\x7f\u2028\u2029é€😀'),
    Buffer.from([0xff, 0xe2, 0x82, 0xc0, 0xaf, 0xed, 0xa0, 0x80]),
    Buffer.from('\n'),
  ]);
  logger.log(msg(line, T));
  await logger.close();
  assert.equal(
    readFileSync(path, 'utf8'),
    '{"log":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u0009\\\\\\r\\u0001\x7f\\u2028\\u2029é€😀' +
      '\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\n","stream":"stdout","time":"2024-05-01T12:34:56Z"}\n',
  );
});

/** Lines of random bytes, biased towards what needs escaping: the bytes are what a container may write. */
function randomLines(seed: number, count: number): Buffer {
  let x = seed;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const pieces = [
    'a',
    'Z',
    ' ',
    '"',
    '\\',
    '\\n',
    '<',
    '>',
    '&',
    '\t',
    '\b',
    '\f',
    '\r',
    '\x1b[31m',
    '\x00',
    '\x7f',
    'é',
    '€',
    '😀',
    '\u2028',
    '\u2029',
    '{"k":"v"}',
  ];
  const parts: Buffer[] = [];
  for (let l = 0; l < count; l++) {
    const len = rnd(30);
    for (let i = 0; i < len; i++) {
      if (rnd(10) === 0)
        parts.push(Buffer.from([0x80 + rnd(128)])); // a stray byte: invalid UTF-8 mostly
      else parts.push(Buffer.from(pieces[rnd(pieces.length)]!));
    }
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

test('a run of lines encodes to exactly the bytes of its lines encoded one by one', () => {
  for (let seed = 1; seed <= 300; seed++) {
    // Most runs valid UTF-8 (the fast paths, with and without backslashes), some not.
    let lines = randomLines(seed, 1 + (seed % 7));
    if (seed % 3 !== 0) lines = Buffer.from(lines.toString('utf8').replace(/\ufffd/g, '?'));
    if (seed % 2 === 0) lines = Buffer.from(lines.toString('latin1').replace(/\\/g, '/'), 'latin1');
    const one = Buffer.concat(
      lines
        .toString('latin1')
        .split('\n')
        .slice(0, -1)
        .map((l) => encodeJsonLogEntry(msg(Buffer.from(`${l}\n`, 'latin1'), T + 5n, 'stderr'))),
    );
    const run = encodeJsonLogLines(lines, lines.toString('latin1'), 'stderr', T + 5n);
    assert.equal(
      run.toString('latin1'),
      one.toString('latin1'),
      `seed ${seed}: ${JSON.stringify(lines.toString('latin1'))}`,
    );
  }
});

test('the splitter hands whole lines on in runs and the rest line by line, with the same content', () => {
  const input = Buffer.concat([
    randomLines(7, 50),
    Buffer.from('x'.repeat(40_000) + '\n'),
    randomLines(8, 50),
  ]);
  const collect = (withRuns: boolean) => {
    const out: string[] = [];
    let inRuns = 0;
    const splitter = new LineSplitter(
      'stdout',
      (m) => out.push(`${m.line.toString('latin1')}${m.partial ? '…' : ''}`),
      16 * 1024,
      withRuns
        ? (buf, latin1) => {
            assert.equal(buf.toString('latin1'), latin1);
            const lines = latin1.split('\n').slice(0, -1);
            out.push(...lines.map((l) => `${l}\n`));
            inRuns += lines.length;
          }
        : undefined,
    );
    for (let at = 0; at < input.length; at += 777) splitter.write(input.subarray(at, at + 777));
    splitter.flush();
    return { out, inRuns };
  };
  const lineByLine = collect(false);
  const runs = collect(true);
  assert.deepEqual(runs.out, lineByLine.out);
  // Only the line each chunk's cut ran through (and the long line's pieces) went one by one.
  assert.ok(runs.inRuns > lineByLine.out.length * 0.6, `${runs.inRuns} of ${lineByLine.out.length} in runs`);
  assert.ok(
    lineByLine.out.some((l) => l.endsWith('…')),
    'the long line was split into pieces',
  );
});

test('a run of lines crossing max-size rotates after the line that reaches it, as line-by-line writing does', async (t) => {
  const write = async (dir: string, runs: boolean) => {
    const path = join(dir, 'c-json.log');
    const logger = new JsonFileLogger(path, parseJsonFileOptions({ 'max-size': '1k', 'max-file': '5' }));
    const text = Array.from({ length: 60 }, (_, i) => lineText(i)).join('');
    if (runs) {
      for (let at = 0; at < 60; at += 20) {
        const part = Buffer.from(
          text
            .split('\n')
            .slice(at, at + 20)
            .join('\n') + '\n',
        );
        logger.logLines('stdout', part, part.toString('latin1'), T);
      }
    } else {
      for (const l of text.split('\n').slice(0, -1)) logger.log(msg(`${l}\n`, T));
    }
    await logger.close();
    return readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f), 'utf8'));
  };
  const inRuns = await write(tempDir(t), true);
  assert.deepEqual(inRuns, await write(tempDir(t), false));
  assert.ok(inRuns.length >= 4, `${inRuns.length} files`);
});

test('appends to an existing file and counts its size towards max-size', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  writeFileSync(path, '{"log":"old\\n","stream":"stdout","time":"2024-05-01T12:34:56Z"}\n'.repeat(20));
  const logger = new JsonFileLogger(path, { maxSize: 1000, maxFile: 2 });
  logger.log(msg('new\n', T + 1n));
  await logger.close();
  assert.deepEqual(readdirSync(join(path, '..')).sort(), ['c-json.log', 'c-json.log.1']);
  assert.equal(readFileSync(`${path}.1`, 'utf8').split('\n').length, 21);
  assert.deepEqual(await readAll(path), [...Array(20).fill('old\n'), 'new\n']);
});

const lineText = (i: number) => `line ${String(i).padStart(5, '0')} ${'x'.repeat(i % 40)}\n`;

test('rotation with max-size=1k max-file=3 keeps exactly 3 bounded files holding the newest lines', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c-json.log');
  const logger = new JsonFileLogger(path, parseJsonFileOptions({ 'max-size': '1k', 'max-file': '3' }));
  let notified = 0;
  logger.onWrite(() => notified++);
  for (let i = 1; i <= 5000; i++) logger.log(msg(lineText(i), T + BigInt(i)));
  await logger.close();
  assert.ok(notified > 0);
  assert.deepEqual(readdirSync(dir).sort(), ['c-json.log', 'c-json.log.1', 'c-json.log.2']);
  const maxEntry = 150;
  for (const f of readdirSync(dir)) assert.ok(statSync(join(dir, f)).size < 1000 + maxEntry, f);
  for (const f of ['c-json.log.1', 'c-json.log.2']) assert.ok(statSync(join(dir, f)).size >= 1000, f);
  const lines = await readAll(path);
  assert.ok(lines.length > 15 && lines.length < 40, `${lines.length} lines kept`);
  const first = Number(lines[0]!.slice(5, 10));
  assert.deepEqual(
    lines,
    Array.from({ length: 5001 - first }, (_, k) => lineText(first + k)),
  );
});

test('max-file=1 truncates in place: one file, never above max-size plus one entry', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c-json.log');
  const logger = new JsonFileLogger(path, parseJsonFileOptions({ 'max-size': '1k' }));
  for (let i = 1; i <= 500; i++) logger.log(msg(lineText(i), T + BigInt(i)));
  await logger.close();
  assert.deepEqual(readdirSync(dir), ['c-json.log']);
  assert.ok(statSync(path).size < 1150);
  const lines = await readAll(path);
  assert.equal(lines.at(-1), lineText(500));
});

test('compress: rotated files are gzipped (.1.gz, .2.gz) with lastTime in the header, and read back', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c-json.log');
  const logger = new JsonFileLogger(
    path,
    parseJsonFileOptions({ 'max-size': '1k', 'max-file': '3', compress: 'true' }),
  );
  for (let i = 1; i <= 3000; i++) {
    logger.log(msg(lineText(i), T + BigInt(i) * 1000n));
    // Let rotations (and their background compression) interleave with writing.
    if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  await logger.close();
  assert.deepEqual(readdirSync(dir).sort(), ['c-json.log', 'c-json.log.1.gz', 'c-json.log.2.gz']);
  const gz = readFileSync(`${path}.1.gz`);
  const entries = gunzipSync(gz)
    .toString()
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
  assert.ok(entries.length > 5);
  assert.ok(entries.every((e) => e.stream === 'stdout' && e.log.startsWith('line ')));
  // gzip header: FLG.FEXTRA, XLEN, then dockerd's {"lastTime":…} = time of the file's last entry.
  assert.equal(gz[3]! & 0x04, 0x04);
  const extra = JSON.parse(gz.subarray(12, 12 + gz.readUInt16LE(10)).toString()) as { lastTime: string };
  assert.deepEqual(extra, { lastTime: entries.at(-1)!.time });

  const lines = await readAll(path);
  const first = Number(lines[0]!.slice(5, 10));
  assert.equal(
    lines[0],
    JSON.parse(
      gunzipSync(readFileSync(`${path}.2.gz`))
        .toString()
        .split('\n')[0]!,
    ).log,
  );
  assert.deepEqual(
    lines,
    Array.from({ length: 3001 - first }, (_, k) => lineText(first + k)),
  );
});

test('close() flushes everything queued, and later lines are dropped without throwing', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, {});
  for (let i = 0; i < 1000; i++) logger.log(msg(`${i}\n`, T + BigInt(i)));
  assert.ok(logger.backlogBytes > 0);
  await logger.close();
  assert.equal(logger.backlogBytes, 0);
  assert.equal(readFileSync(path, 'utf8').split('\n').length, 1001);
  logger.log(msg('late\n', T));
  await logger.close();
  assert.equal(readFileSync(path, 'utf8').split('\n').length, 1001);
});

test('a log path that cannot be opened fails at construction', () => {
  assert.throws(() => new JsonFileLogger('/tmp/berth-no-such-dir/x/c-json.log', {}), /ENOENT/);
});

test('parseJsonFileOptions reads sizes with decimal units like dockerd', () => {
  const size = (v: string) => parseJsonFileOptions({ 'max-size': v }).maxSize;
  assert.equal(size('10m'), 10_000_000);
  assert.equal(size('1k'), 1000);
  assert.equal(size('1kb'), 1000);
  assert.equal(size('1KB'), 1000);
  assert.equal(size('2mb'), 2_000_000);
  assert.equal(size('1.5m'), 1_500_000);
  assert.equal(size('1g'), 1_000_000_000);
  assert.equal(size('1 MiB'), 1_000_000);
  assert.equal(size('100'), 100);
  assert.equal(size('100b'), 100);
  assert.deepEqual(parseJsonFileOptions({}), {});
  assert.deepEqual(parseJsonFileOptions({ 'max-size': '10m', 'max-file': '3', compress: 'true' }), {
    maxSize: 10_000_000,
    maxFile: 3,
    compress: true,
  });
  assert.deepEqual(parseJsonFileOptions({ compress: 'false' }), { compress: false });
});

test('parseJsonFileOptions rejects bad values with dockerd-style invalid errors', () => {
  const bad = (opts: Record<string, string>, re: RegExp) =>
    assert.throws(
      () => parseJsonFileOptions(opts),
      (e: unknown) => e instanceof EngineError && e.kind === 'invalid' && re.test(e.message),
      JSON.stringify(opts),
    );
  bad({ 'max-size': '10x' }, /^invalid value for max-size: .*'10x'/);
  bad({ 'max-size': 'abc' }, /^invalid value for max-size/);
  bad({ 'max-size': '-1m' }, /^invalid value for max-size/);
  bad({ 'max-size': '0' }, /^invalid value for max-size: max-size must be a positive number/);
  bad({ 'max-file': '0' }, /^invalid value for max-file: max-file cannot be less than 1/);
  bad({ 'max-file': 'three' }, /^invalid value for max-file: 'three'/);
  bad({ compress: 'maybe' }, /^invalid value for compress: 'maybe'/);
  bad(
    { compress: 'true', 'max-file': '3' },
    /^compress cannot be true when max-file is less than 2 or max-size/,
  );
  bad({ compress: 'true', 'max-size': '1m' }, /^compress cannot be true/);
  bad({ 'max-sise': '1m' }, /^unknown log opt 'max-sise' for json-file log driver$/);
  bad({ 'env-regex': '[' }, /^error parsing regexp in log opt env-regex/);
  bad({ tag: '{{.Name' }, /^template: log-tag:1: unclosed action$/);
  bad({ tag: '{{.Name | shout}}' }, /^template: log-tag:1: function "shout" not defined$/);
  assert.deepEqual(
    parseJsonFileOptions({ labels: 'a,b', env: 'X', 'labels-regex': '^com\\.', tag: '{{.Name}}' }),
    {},
  );
});
