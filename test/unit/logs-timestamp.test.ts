import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import {
  formatRfc3339Nano,
  formatTimestamp9,
  nowNs,
  parseRfc3339Nano,
  parseSinceUntil,
} from '../../guest-agent/logs/timestamp.js';

const T = 1714566896n * 1_000_000_000n; // 2024-05-01T12:34:56Z

test('formatRfc3339Nano trims trailing zeros like Go RFC3339Nano', () => {
  assert.equal(formatRfc3339Nano(T + 123456789n), '2024-05-01T12:34:56.123456789Z');
  assert.equal(formatRfc3339Nano(T + 123456700n), '2024-05-01T12:34:56.1234567Z');
  assert.equal(formatRfc3339Nano(T + 100000000n), '2024-05-01T12:34:56.1Z');
  assert.equal(formatRfc3339Nano(T + 1n), '2024-05-01T12:34:56.000000001Z');
  assert.equal(formatRfc3339Nano(T), '2024-05-01T12:34:56Z');
  assert.equal(formatRfc3339Nano(0n), '1970-01-01T00:00:00Z');
  assert.equal(formatRfc3339Nano(-1n), '1969-12-31T23:59:59.999999999Z');
  assert.equal(formatRfc3339Nano(951782400n * 1_000_000_000n), '2000-02-29T00:00:00Z');
});

test('formatTimestamp9 always has nine fraction digits', () => {
  assert.equal(formatTimestamp9(T + 123456789n), '2024-05-01T12:34:56.123456789Z');
  assert.equal(formatTimestamp9(T + 100000000n), '2024-05-01T12:34:56.100000000Z');
  assert.equal(formatTimestamp9(T), '2024-05-01T12:34:56.000000000Z');
});

test('parseRfc3339Nano reads what the formatters write, and offsets', () => {
  for (const ns of [T, T + 1n, T + 123456789n, T + 120000000n, 0n, -1n, 253402300799999999999n]) {
    assert.equal(parseRfc3339Nano(formatRfc3339Nano(ns)), ns);
    assert.equal(parseRfc3339Nano(formatTimestamp9(ns)), ns);
  }
  assert.equal(parseRfc3339Nano('2024-05-01T14:34:56.5+02:00'), T + 500000000n);
  assert.equal(parseRfc3339Nano('2024-05-01T07:04:56-05:30'), T);
  assert.equal(parseRfc3339Nano('2024-05-01T12:34:56.1234567891Z'), T + 123456789n);
  assert.equal(parseRfc3339Nano('0001-01-01T00:00:00Z'), -62135596800n * 1_000_000_000n);
});

test('parseRfc3339Nano rejects malformed and out-of-range values as invalid', () => {
  for (const bad of [
    '',
    'yesterday',
    '2024-05-01 12:34:56Z',
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-05-01T24:00:00Z',
    '2024-05-01T12:34:56',
    '2024-05-01T12:34:56.Z',
  ]) {
    assert.throws(
      () => parseRfc3339Nano(bad),
      (e: unknown) => e instanceof EngineError && e.kind === 'invalid',
      bad,
    );
  }
  assert.equal(parseRfc3339Nano('2024-02-29T00:00:00Z'), 1709164800n * 1_000_000_000n);
});

test('parseSinceUntil accepts what the docker CLI sends', () => {
  assert.equal(parseSinceUntil('1700000000.123456789'), 1700000000123456789n);
  assert.equal(parseSinceUntil('1700000000.000000000'), 1700000000000000000n);
  assert.equal(parseSinceUntil('1700000000'), 1700000000000000000n);
  assert.equal(parseSinceUntil('1700000000.5'), 1700000000500000000n);
  assert.equal(parseSinceUntil('2024-05-01T12:34:56.25Z'), T + 250000000n);
  assert.equal(parseSinceUntil(''), undefined);
  assert.equal(parseSinceUntil('0'), undefined);
  assert.equal(parseSinceUntil('0.000000000'), undefined);
  assert.throws(
    () => parseSinceUntil('10m'),
    (e: unknown) => e instanceof EngineError && e.kind === 'invalid',
  );
  assert.throws(() => parseSinceUntil('abc'), /invalid timestamp "abc"/);
});

test('nowNs follows the wall clock and never goes backwards', () => {
  let prev = nowNs();
  for (let i = 0; i < 20000; i++) {
    const t = nowNs();
    assert.ok(t > prev, `nowNs went from ${prev} to ${t}`);
    prev = t;
  }
  const wall = BigInt(Date.now()) * 1_000_000n;
  const diff = nowNs() - wall;
  assert.ok(diff > -50_000_000n && diff < 50_000_000n, `nowNs is ${diff} ns away from Date.now()`);
  // Sub-millisecond resolution: the values within one millisecond are not all multiples of 1 ms.
  const samples = Array.from({ length: 100 }, () => nowNs());
  assert.ok(samples.some((s) => s % 1_000_000n !== 0n));
});
