// The host's sleep, seen as a timer that fires far too late (or a clock set back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockJumpWatcher } from '../../vm/clock-watch.js';

test('clock watch: a late tick is a sleep; on-time and slightly late ticks are not', () => {
  let now = 1_000_000;
  const jumps: number[] = [];
  const w = new ClockJumpWatcher(
    (gap) => jumps.push(gap),
    5000,
    10_000,
    () => now,
  );
  now += 5000;
  w.tick();
  now += 14_000; // a busy event loop, not a sleep
  w.tick();
  assert.deepEqual(jumps, []);
  now += 3_600_000; // an hour with the lid closed
  w.tick();
  now -= 60_000; // the clock set back
  w.tick();
  assert.deepEqual(jumps, [3_600_000, -60_000]);
});
