// The local driver: dockerd's defaults (20 MiB × 5, compressed), its option checks, and reading back.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createLogDriver, readableLogPath, resolveLogConfig } from '../../guest-agent/logs/log-driver.js';
import { parseLocalOptions } from '../../guest-agent/logs/local-driver.js';
import { readJsonFileLogs } from '../../guest-agent/logs/json-file-reader.js';

const ID = 'e'.repeat(64);

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-local-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('defaults as dockerd: 20 MiB, 5 files, compressed; dockerd messages for bad values', () => {
  assert.deepEqual(parseLocalOptions({}), { maxSize: 20 * 1024 * 1024, maxFile: 5, compress: true });
  assert.deepEqual(parseLocalOptions({ 'max-size': '1k', 'max-file': '2', compress: 'false' }), {
    maxSize: 1000,
    maxFile: 2,
    compress: false,
  });
  assert.throws(
    () => parseLocalOptions({ 'max-file': '1' }),
    /^Error: compression cannot be enabled when max file count is 1$/,
  );
  assert.throws(
    () => parseLocalOptions({ 'max-size': 'x' }),
    /invalid value for max-size: x: invalid size: 'x'/,
  );
  assert.throws(
    () => parseLocalOptions({ 'max-file': 'two' }),
    /invalid value for max-file: two: strconv.Atoi: parsing "two": invalid syntax/,
  );
  assert.throws(
    () => parseLocalOptions({ compress: 'maybe' }),
    /invalid boolean value for compress: strconv.ParseBool/,
  );
  assert.throws(
    () => parseLocalOptions({ 'max-buffer': '1' }),
    /unknown log opt 'max-buffer' for log driver local/,
  );
});

test('writes rotated, gzipped files under local-logs/ and reads them all back, with --tail', async (t) => {
  const dir = tempDir(t);
  const logPath = join(dir, `${ID}-json.log`);
  const d = await createLogDriver(
    'local',
    { 'max-size': '2k', 'max-file': '3' },
    { containerId: ID, logPath },
  );
  assert.equal(d.name, 'local');
  for (let i = 0; i < 100; i++)
    d.log({ stream: 'stdout', line: Buffer.from(`line ${i}\n`), timeNs: BigInt(i + 1) * 1000n });
  await d.close();
  const files = readdirSync(join(dir, 'local-logs')).sort();
  assert.deepEqual(files, ['container.log', 'container.log.1.gz', 'container.log.2.gz']);
  const file = readableLogPath('local', {}, logPath)!;
  const stopped = { isRunning: () => false, onWrite: () => () => undefined };
  const all: string[] = [];
  for await (const m of readJsonFileLogs(file, { stdout: true, stderr: true, follow: false }, stopped))
    all.push(m.line.toString());
  assert.ok(all.length > 30 && all.length < 100, `${all.length} lines kept in 3 files of 2 kB`);
  assert.equal(all.at(-1), 'line 99\n');
  const tail: string[] = [];
  for await (const m of readJsonFileLogs(
    file,
    { stdout: true, stderr: true, follow: false, tail: 3 },
    stopped,
  ))
    tail.push(m.line.toString());
  assert.deepEqual(tail, ['line 97\n', 'line 98\n', 'line 99\n']);
});

test("the engine's defaults merge as dockerd merges them", () => {
  const defaults = { Type: 'local', Config: { 'max-size': '5m', 'cache-max-file': '2' } };
  assert.deepEqual(resolveLogConfig(undefined, defaults), defaults);
  assert.deepEqual(resolveLogConfig({ Type: 'local', Config: { 'max-file': '3' } }, defaults), {
    Type: 'local',
    Config: { 'max-file': '3', 'max-size': '5m', 'cache-max-file': '2' },
  });
  assert.deepEqual(resolveLogConfig({ Type: 'json-file', Config: {} }, defaults), {
    Type: 'json-file',
    Config: { 'cache-max-file': '2' },
  });
  assert.equal(readableLogPath('fluentd', { 'cache-disabled': 'true' }, '/c/x/x-json.log'), undefined);
  assert.equal(readableLogPath('fluentd', {}, '/c/x/x-json.log'), '/c/x/container-cached.log');
  assert.equal(readableLogPath('none', {}, '/c/x/x-json.log'), undefined);
});
