import assert from 'node:assert/strict';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../guest-agent/errors.js';
import { readJsonFileLogs, type ReadOptions } from '../../guest-agent/logs/json-file-reader.js';
import {
  encodeJsonLogEntry,
  JsonFileLogger,
  parseJsonFileOptions,
} from '../../guest-agent/logs/json-file-writer.js';
import type { LogMessage } from '../../guest-agent/logs/log-types.js';

const SEC = 1_000_000_000n;
const T0 = 1714566896n * SEC; // 2024-05-01T12:34:56Z

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-logs-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const stopped = { isRunning: () => false, onWrite: () => () => undefined };
const ALL: ReadOptions = { stdout: true, stderr: true, follow: false };

async function collect(it: AsyncIterable<LogMessage>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of it) out.push(m.line.toString());
  return out;
}

/** Line i goes to stderr when i is a multiple of 3, and is written at T0 + i seconds. */
async function writeNumbered(path: string, n: number, opts: Record<string, string> = {}): Promise<void> {
  const logger = new JsonFileLogger(path, parseJsonFileOptions(opts));
  for (let i = 0; i < n; i++) {
    logger.log({
      stream: i % 3 === 0 ? 'stderr' : 'stdout',
      line: Buffer.from(`line ${i}\n`),
      timeNs: T0 + BigInt(i) * SEC,
    });
  }
  await logger.close();
}
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => `line ${from + k}\n`);

test('reads everything in order, with stream selection and partial pieces as stored', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  await writeNumbered(path, 10);
  assert.deepEqual(await collect(readJsonFileLogs(path, ALL, stopped)), numbered(0, 10));
  const stdout = await collect(readJsonFileLogs(path, { ...ALL, stderr: false }, stopped));
  assert.deepEqual(
    stdout,
    numbered(0, 10).filter((_, i) => i % 3 !== 0),
  );
  const stderr: LogMessage[] = [];
  for await (const m of readJsonFileLogs(path, { ...ALL, stdout: false }, stopped)) stderr.push(m);
  assert.deepEqual(
    stderr.map((m) => [m.stream, m.line.toString(), m.timeNs]),
    [0, 3, 6, 9].map((i) => ['stderr', `line ${i}\n`, T0 + BigInt(i) * SEC]),
  );
  await assert.rejects(
    collect(readJsonFileLogs(path, { ...ALL, stdout: false, stderr: false }, stopped)),
    (e: unknown) => e instanceof EngineError && e.kind === 'invalid',
  );
});

test('a missing log file reads as empty', async (t) => {
  assert.deepEqual(await collect(readJsonFileLogs(join(tempDir(t), 'none-json.log'), ALL, stopped)), []);
});

test('malformed lines are skipped; dockerd lines with attrs are read', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  writeFileSync(
    path,
    '{"log":"a\\n","stream":"stdout","time":"2024-05-01T12:34:56.1Z"}\n' +
      'garbage\n' +
      '{"log":"half\n' +
      '{"log":"b\\n","stream":"stdout","attrs":{"tag":"web"},"time":"2024-05-01T12:34:57Z"}\n' +
      '{"log":"c\\n","stream":"elsewhere","time":"2024-05-01T12:34:58Z"}\n' +
      '{"log":"d\\n","stream":"stderr","time":"not a time"}\n' +
      '\n' +
      '{"log":"\\u003cé\\ufffd\\u0009","stream":"stderr","time":"2024-05-01T12:34:59Z"}\n' +
      '{"log":"unterminated","stream":"stdout","time":"2024-05-01T12:35:00Z"}',
  );
  const msgs: LogMessage[] = [];
  for await (const m of readJsonFileLogs(path, ALL, stopped)) msgs.push(m);
  assert.deepEqual(
    msgs.map((m) => [m.stream, m.line.toString(), m.timeNs]),
    [
      ['stdout', 'a\n', T0 + 100_000_000n],
      ['stdout', 'b\n', T0 + SEC],
      ['stderr', '<é\ufffd\t', T0 + 3n * SEC],
      ['stdout', 'unterminated', T0 + 4n * SEC],
    ],
  );
});

test('--tail N returns the last N lines, across rotated plain and gzipped files', async (t) => {
  const dir = tempDir(t);
  const plain = join(dir, 'p-json.log');
  await writeNumbered(plain, 300, { 'max-size': '2k', 'max-file': '5' });
  const all = await collect(readJsonFileLogs(plain, ALL, stopped));
  const first = Number(all[0]!.split(' ')[1]);
  assert.deepEqual(all, numbered(first, 300));
  assert.ok(300 - first > 60, 'several files hold the lines');
  for (const n of [1, 3, 25, 40, 60, 300 - first, 1000]) {
    assert.deepEqual(
      await collect(readJsonFileLogs(plain, { ...ALL, tail: n }, stopped)),
      all.slice(-n),
      `tail ${n}`,
    );
  }
  assert.deepEqual(await collect(readJsonFileLogs(plain, { ...ALL, tail: 0 }, stopped)), []);
  assert.deepEqual(await collect(readJsonFileLogs(plain, { ...ALL, tail: -1 }, stopped)), all);
  // dockerd counts the tail over both streams, then selects the stream.
  assert.deepEqual(await collect(readJsonFileLogs(plain, { ...ALL, stderr: false, tail: 3 }, stopped)), [
    'line 298\n',
    'line 299\n',
  ]);

  const gz = join(dir, 'g-json.log');
  await writeNumbered(gz, 300, { 'max-size': '2k', 'max-file': '5', compress: 'true' });
  const allGz = await collect(readJsonFileLogs(gz, ALL, stopped));
  assert.deepEqual(allGz, numbered(Number(allGz[0]!.split(' ')[1]), 300));
  for (const n of [2, 30, 45, 70, 1000]) {
    assert.deepEqual(
      await collect(readJsonFileLogs(gz, { ...ALL, tail: n }, stopped)),
      allGz.slice(-n),
      `gz tail ${n}`,
    );
  }
});

test('--tail 10 on a 50 MB file reads only its end (fast)', async (t) => {
  const path = join(tempDir(t), 'big-json.log');
  const filler = encodeJsonLogEntry({
    stream: 'stdout',
    line: Buffer.from(`${'f'.repeat(100)}\n`),
    timeNs: T0,
  });
  const block = Buffer.concat(Array(Math.ceil((1 << 20) / filler.length)).fill(filler));
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < 50_000_000; written += block.length) writeSync(fd, block);
    for (let i = 0; i < 20; i++)
      writeSync(
        fd,
        encodeJsonLogEntry({ stream: 'stdout', line: Buffer.from(`last ${i}\n`), timeNs: T0 + SEC }),
      );
  } finally {
    closeSync(fd);
  }
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    const lines = await collect(readJsonFileLogs(path, { ...ALL, tail: 10 }, stopped));
    best = Math.min(best, performance.now() - start);
    assert.deepEqual(
      lines,
      Array.from({ length: 10 }, (_, k) => `last ${k + 10}\n`),
    );
  }
  assert.ok(best <= 50, `--tail 10 of 50 MB took ${best.toFixed(1)} ms`);
});

test('--tail on a 1 GB (sparse) file takes milliseconds', async (t) => {
  const path = join(tempDir(t), 'sparse-json.log');
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, 1_000_000_000);
    const tailLines = Array.from({ length: 5 }, (_, i) =>
      encodeJsonLogEntry({ stream: 'stderr', line: Buffer.from(`end ${i}\n`), timeNs: T0 }),
    );
    writeSync(fd, Buffer.concat([Buffer.from('\n'), ...tailLines]), 0, undefined, 1_000_000_000);
  } finally {
    closeSync(fd);
  }
  const start = performance.now();
  const lines = await collect(readJsonFileLogs(path, { ...ALL, tail: 3 }, stopped));
  const ms = performance.now() - start;
  assert.deepEqual(lines, ['end 2\n', 'end 3\n', 'end 4\n']);
  assert.ok(ms <= 50, `--tail 3 of 1 GB took ${ms.toFixed(1)} ms`);
});

test('--since/--until select by time, inclusive, also across rotated files', async (t) => {
  const dir = tempDir(t);
  for (const [name, opts] of [
    ['one', {}],
    ['rot', { 'max-size': '1k', 'max-file': '10' }],
    ['gz', { 'max-size': '1k', 'max-file': '10', compress: '1' }],
  ] as const) {
    const path = join(dir, `${name}-json.log`);
    await writeNumbered(path, 100, opts);
    const read = (o: Partial<ReadOptions>) => collect(readJsonFileLogs(path, { ...ALL, ...o }, stopped));
    assert.deepEqual(await read({ sinceNs: T0 + 95n * SEC }), numbered(95, 100), name);
    assert.deepEqual(await read({ sinceNs: T0 + 94n * SEC + 1n }), numbered(95, 100), name);
    assert.deepEqual(
      await read({ sinceNs: T0 + 60n * SEC, untilNs: T0 + 62n * SEC }),
      numbered(60, 63),
      name,
    );
    assert.deepEqual(await read({ untilNs: T0 + 2n * SEC - 1n }), numbered(0, 2), name);
    assert.deepEqual(await read({ sinceNs: T0 + 200n * SEC }), [], name);
    // tail first, then since: the last 10 lines, of which those from second 93 on.
    assert.deepEqual(await read({ tail: 10, sinceNs: T0 + 93n * SEC }), numbered(93, 100), name);
  }
});

function source(logger: JsonFileLogger) {
  let running = true;
  return {
    src: { isRunning: () => running, onWrite: (cb: () => void) => logger.onWrite(cb) },
    stop: async () => {
      await logger.close();
      running = false;
    },
  };
}

/** Iterates in the background; `waitFor(n)` resolves once n lines have arrived. */
function follower(it: AsyncIterable<LogMessage>) {
  const lines: string[] = [];
  let notify = () => {};
  const done = (async () => {
    for await (const m of it) {
      lines.push(m.line.toString());
      notify();
    }
  })();
  const waitFor = async (n: number, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (lines.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${lines.length} of ${n} lines arrived`);
      await new Promise<void>((r) => {
        notify = r;
        setTimeout(r, 50);
      });
    }
  };
  return { lines, done, waitFor };
}

test('follow yields existing and later lines, and ends when the container stops', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, {});
  const { src, stop } = source(logger);
  t.after(stop);
  for (let i = 0; i < 5; i++)
    logger.log({ stream: 'stdout', line: Buffer.from(`line ${i}\n`), timeNs: T0 + BigInt(i) });
  await sleep(20);
  const f = follower(readJsonFileLogs(path, { ...ALL, follow: true, tail: 2 }, src));
  await f.waitFor(2);
  assert.deepEqual(f.lines, numbered(3, 5));
  const started = Date.now();
  logger.log({ stream: 'stderr', line: Buffer.from('line 5\n'), timeNs: T0 + 5n });
  await f.waitFor(3);
  assert.ok(Date.now() - started < 200, 'woken by onWrite, not only by the poll');
  logger.log({ stream: 'stdout', line: Buffer.from('line 6\n'), timeNs: T0 + 6n });
  logger.log({ stream: 'stdout', line: Buffer.from('line 7\n'), timeNs: T0 + 7n });
  await stop();
  await f.done;
  assert.deepEqual(f.lines, numbered(3, 8));
});

test('follow picks up writes through the poll without notifications', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  writeFileSync(path, '');
  let running = true;
  const f = follower(
    readJsonFileLogs(
      path,
      { ...ALL, follow: true },
      { isRunning: () => running, onWrite: () => () => undefined },
    ),
  );
  t.after(() => (running = false));
  writeFileSync(path, encodeJsonLogEntry({ stream: 'stdout', line: Buffer.from('line 0\n'), timeNs: T0 }), {
    flag: 'a',
  });
  // A half-written entry is held back until its end arrives.
  const entry = encodeJsonLogEntry({ stream: 'stdout', line: Buffer.from('line 1\n'), timeNs: T0 + 1n });
  writeFileSync(path, entry.subarray(0, 10), { flag: 'a' });
  await f.waitFor(1);
  await sleep(300);
  writeFileSync(path, entry.subarray(10), { flag: 'a' });
  await f.waitFor(2);
  running = false;
  await f.done;
  assert.deepEqual(f.lines, numbered(0, 2));
});

test('follow starts over when the file is truncated in place', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const entry = (i: number) =>
    encodeJsonLogEntry({ stream: 'stdout', line: Buffer.from(`line ${i}\n`), timeNs: T0 });
  writeFileSync(path, Buffer.concat([entry(0), entry(1), entry(2)]));
  let running = true;
  t.after(() => (running = false));
  const f = follower(
    readJsonFileLogs(
      path,
      { ...ALL, follow: true },
      { isRunning: () => running, onWrite: () => () => undefined },
    ),
  );
  await f.waitFor(3);
  writeFileSync(path, entry(3)); // same inode, now shorter than what was read
  await f.waitFor(4);
  running = false;
  await f.done;
  assert.deepEqual(f.lines, numbered(0, 4));
});

test('follow that starts while a rotation has moved the file away reads every file handed over, once', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const entries = (from: number, to: number) =>
    Buffer.concat(
      Array.from({ length: to - from }, (_, k) =>
        encodeJsonLogEntry({ stream: 'stdout', line: Buffer.from(`line ${from + k}\n`), timeNs: T0 }),
      ),
    );
  // File A was made current and rotated to .1 after the follower subscribed; the path is empty for now.
  writeFileSync(`${path}.1`, entries(0, 3));
  const hand = (file: string) => {
    const fd = openSync(file, 'r');
    handOver!({ fd, ino: fstatSync(fd).ino });
  };
  let handOver: ((f: { fd: number; ino: number }) => void) | undefined;
  let running = true;
  t.after(() => (running = false));
  const f = follower(
    readJsonFileLogs(
      path,
      { ...ALL, follow: true },
      {
        isRunning: () => running,
        onWrite: () => () => undefined,
        onRotate: (cb) => {
          handOver = cb;
          hand(`${path}.1`); // A, handed when it became current
          return () => undefined;
        },
      },
    ),
  );
  await f.waitFor(3);
  // Two rotations before the follower looks again: B made current, filled and rotated; then C.
  writeFileSync(path, '');
  hand(path);
  writeFileSync(path, entries(3, 6), { flag: 'a' });
  renameSync(path, `${path}.1`);
  writeFileSync(path, '');
  hand(path);
  writeFileSync(path, entries(6, 8), { flag: 'a' });
  await f.waitFor(8);
  running = false;
  await f.done;
  assert.deepEqual(f.lines, numbered(0, 8));
});

test('follow survives rotations without losing or repeating lines', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, parseJsonFileOptions({ 'max-size': '2k', 'max-file': '3' }));
  const { src, stop } = source(logger);
  t.after(stop);
  const f = follower(readJsonFileLogs(path, { ...ALL, follow: true }, src));
  let i = 0;
  // Batches of ~1.2 KB: at most one rotation between two reads.
  for (let batch = 0; batch < 20; batch++) {
    for (let k = 0; k < 15; k++, i++)
      logger.log({ stream: 'stdout', line: Buffer.from(`line ${i}\n`), timeNs: T0 + BigInt(i) });
    await f.waitFor(i);
  }
  await stop();
  await f.done;
  assert.deepEqual(f.lines, numbered(0, i));
});

test('follow catches up after several rotations happened between two reads', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, parseJsonFileOptions({ 'max-size': '2k', 'max-file': '30' }));
  const { src, stop } = source(logger);
  t.after(stop);
  logger.log({ stream: 'stdout', line: Buffer.from('line 0\n'), timeNs: T0 });
  await sleep(20);
  // The client stops pulling after the first line while ~40 KB (about 20 rotations) are written.
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const lines: string[] = [];
  const done = (async () => {
    for await (const m of readJsonFileLogs(path, { ...ALL, follow: true }, src)) {
      lines.push(m.line.toString());
      if (lines.length === 1) await gate;
    }
  })();
  while (lines.length === 0) await sleep(5);
  for (let i = 1; i < 500; i++)
    logger.log({ stream: 'stdout', line: Buffer.from(`line ${i}\n`), timeNs: T0 + BigInt(i) });
  await stop();
  const files = readdirSync(join(path, '..')).length;
  assert.ok(files > 15 && files < 30, `${files} files: many rotations, none deleted`);
  release();
  await done;
  assert.deepEqual(lines, numbered(0, 500));
});

test('follow ends when the client aborts, and when --until has passed', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  const logger = new JsonFileLogger(path, {});
  t.after(() => logger.close());
  const forever = { isRunning: () => true, onWrite: (cb: () => void) => logger.onWrite(cb) };
  logger.log({ stream: 'stdout', line: Buffer.from('line 0\n'), timeNs: T0 });
  const ac = new AbortController();
  const f = follower(readJsonFileLogs(path, { ...ALL, follow: true, signal: ac.signal }, forever));
  await f.waitFor(1);
  const started = Date.now();
  ac.abort();
  await f.done;
  assert.ok(Date.now() - started < 100, 'abort ends the follow at once');

  const { nowNs } = await import('../../guest-agent/logs/timestamp.js');
  const until = nowNs() + 300_000_000n;
  const g = follower(readJsonFileLogs(path, { ...ALL, follow: true, untilNs: until }, forever));
  logger.log({ stream: 'stdout', line: Buffer.from('line 1\n'), timeNs: nowNs() });
  await g.done;
  assert.ok(nowNs() >= until);
  assert.deepEqual(g.lines, numbered(0, 2));
});

test('follow of a stopped container returns what is there and ends', async (t) => {
  const path = join(tempDir(t), 'c-json.log');
  await writeNumbered(path, 4);
  const start = Date.now();
  assert.deepEqual(await collect(readJsonFileLogs(path, { ...ALL, follow: true }, stopped)), numbered(0, 4));
  assert.ok(Date.now() - start < 100);
});
