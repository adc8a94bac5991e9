import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter } from '../../guest-agent/logs/line-splitter.js';
import type { LogMessage } from '../../guest-agent/logs/log-types.js';

function splitter(stream: 'stdout' | 'stderr' = 'stdout', maxLine?: number) {
  const out: LogMessage[] = [];
  const s = new LineSplitter(stream, (m) => out.push(m), maxLine);
  return { s, out, text: () => out.map((m) => m.line.toString()) };
}

test('lines are cut at \\n, keeping it, whatever the chunk boundaries', () => {
  const { s, out, text } = splitter('stderr');
  s.write(Buffer.from('hel'));
  s.write(Buffer.from('lo\nwor'));
  assert.deepEqual(text(), ['hello\n']);
  s.write(Buffer.from('ld\n\nlast'));
  assert.deepEqual(text(), ['hello\n', 'world\n', '\n']);
  s.flush();
  assert.deepEqual(text(), ['hello\n', 'world\n', '\n', 'last']);
  assert.ok(out.every((m) => m.stream === 'stderr' && m.partial === undefined));
  for (let i = 1; i < out.length; i++) assert.ok(out[i]!.timeNs > out[i - 1]!.timeNs);
  s.flush();
  assert.equal(out.length, 4, 'a second flush emits nothing');
});

test('a line longer than 16 KiB is emitted in 16 KiB partial pieces sharing one timestamp', () => {
  const { s, out } = splitter();
  const long = Buffer.alloc(40000, 'a');
  s.write(Buffer.concat([Buffer.from('short\n'), long, Buffer.from('\nnext\n')]));
  assert.deepEqual(
    out.map((m) => [m.line.length, m.partial ?? false]),
    [
      [6, false],
      [16384, true],
      [16384, true],
      [40000 - 2 * 16384 + 1, false],
      [5, false],
    ],
  );
  assert.ok(!out[1]!.line.includes(0x0a) && !out[2]!.line.includes(0x0a));
  assert.deepEqual(
    Buffer.concat(out.slice(1, 4).map((m) => m.line)),
    Buffer.concat([long, Buffer.from('\n')]),
  );
  assert.equal(out[2]!.timeNs, out[1]!.timeNs);
  assert.equal(out[3]!.timeNs, out[1]!.timeNs);
  assert.ok(out[4]!.timeNs > out[1]!.timeNs);
});

test('the 16 KiB boundary matches dockerd: 16383 bytes + \\n fit, 16384 + \\n do not', () => {
  const fits = splitter();
  fits.s.write(Buffer.concat([Buffer.alloc(16383, 'b'), Buffer.from('\n')]));
  assert.deepEqual(
    fits.out.map((m) => [m.line.length, m.partial ?? false]),
    [[16384, false]],
  );

  const over = splitter();
  over.s.write(Buffer.concat([Buffer.alloc(16384, 'b'), Buffer.from('\n')]));
  assert.deepEqual(
    over.out.map((m) => [m.line.toString().slice(-1), m.line.length, m.partial ?? false]),
    [
      ['b', 16384, true],
      ['\n', 1, false],
    ],
  );
});

test('byte-at-a-time input gives the same messages as one chunk', () => {
  const input = Buffer.from('one\n' + 'x'.repeat(50) + '\ntwo\nrest');
  const whole = splitter('stdout', 16);
  whole.s.write(input);
  whole.s.flush();
  const bytes = splitter('stdout', 16);
  for (const b of input) bytes.s.write(Buffer.from([b]));
  bytes.s.flush();
  const shape = (o: LogMessage[]) => o.map((m) => [m.line.toString(), m.partial ?? false]);
  assert.deepEqual(shape(bytes.out), shape(whole.out));
  assert.deepEqual(shape(whole.out), [
    ['one\n', false],
    ['x'.repeat(16), true],
    ['x'.repeat(16), true],
    ['x'.repeat(16), true],
    ['xx\n', false],
    ['two\n', false],
    ['rest', false],
  ]);
});

test('flush of a pending partial piece keeps the first piece time and is not partial', () => {
  const { s, out } = splitter('stdout', 8);
  s.write(Buffer.from('0123456789'));
  s.flush();
  assert.deepEqual(
    out.map((m) => [m.line.toString(), m.partial ?? false]),
    [
      ['01234567', true],
      ['89', false],
    ],
  );
  assert.equal(out[1]!.timeNs, out[0]!.timeNs);
});

test("split lines carry dockerd's partial metadata: one id, ordinals from 1, the '\\n' piece last", () => {
  const { s, out } = splitter('stdout', 4);
  s.write(Buffer.from('ab\n0123456789\nxy'));
  s.flush();
  const meta = out.map((m) => m.partialMeta);
  assert.equal(meta[0], undefined, 'a whole line has none');
  const id = meta[1]!.id;
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.deepEqual(meta.slice(1, 4), [
    { id, ordinal: 1, last: false },
    { id, ordinal: 2, last: false },
    { id, ordinal: 3, last: true },
  ]);
  assert.equal(out[3]!.line.toString(), '89\n');
  // The unterminated rest at exit is a piece of a new line that never ended (dockerd: Last false).
  assert.equal(meta[4]!.ordinal, 1);
  assert.equal(meta[4]!.last, false);
  assert.notEqual(meta[4]!.id, id);
});
