import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import { createLogDriver, validateLogConfig } from '../../guest-agent/logs/log-driver.js';
import { LineSplitter } from '../../guest-agent/logs/line-splitter.js';
import { readJsonFileLogs } from '../../guest-agent/logs/json-file-reader.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-logs-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const isInvalid = (re: RegExp) => (e: unknown) =>
  e instanceof EngineError && e.kind === 'invalid' && re.test(e.message);
const info = (dir: string) => ({
  containerId: 'c'.repeat(64),
  logPath: join(dir, `${'c'.repeat(64)}-json.log`),
});

test('json-file: the copier path (splitter → driver) ends up readable by docker logs', async (t) => {
  const dir = tempDir(t);
  const driver = await createLogDriver('json-file', { 'max-size': '10m', 'max-file': '2' }, info(dir));
  assert.equal(driver.name, 'json-file');
  assert.equal(driver.readable, true);
  let writes = 0;
  const unsubscribe = driver.onWrite?.(() => writes++);
  assert.ok(unsubscribe, 'json-file exposes onWrite for the reader');
  const out = new LineSplitter('stdout', (m) => driver.log(m));
  const err = new LineSplitter('stderr', (m) => driver.log(m));
  out.write(Buffer.from('hello\nwor'));
  err.write(Buffer.from('oops\n'));
  out.write(Buffer.from('ld\nno newline'));
  out.flush();
  err.flush();
  await driver.close();
  assert.ok(writes > 0);
  const got: string[] = [];
  const src = { isRunning: () => false, onWrite: () => () => undefined };
  for await (const m of readJsonFileLogs(
    info(dir).logPath,
    { stdout: true, stderr: true, follow: false },
    src,
  )) {
    got.push(`${m.stream}:${m.line.toString()}`);
  }
  assert.deepEqual(got, ['stdout:hello\n', 'stderr:oops\n', 'stdout:world\n', 'stdout:no newline']);
  assert.match(
    readFileSync(info(dir).logPath, 'utf8'),
    /^\{"log":"hello\\n","stream":"stdout","time":"\d{4}-\d\d-\d\dT[0-9:.]+Z"\}\n/,
  );
});

test("'none' keeps nothing, is not readable, and accepts any option (as dockerd)", async (t) => {
  const dir = tempDir(t);
  const driver = await createLogDriver('none', { whatever: '1' }, info(dir));
  assert.equal(driver.readable, false);
  driver.log({ stream: 'stdout', line: Buffer.from('x\n'), timeNs: 1n });
  await driver.close();
  assert.equal(existsSync(info(dir).logPath), false);
  validateLogConfig('none', { whatever: '1' });
});

test('unsupported drivers and bad options fail at validation with the same errors as at creation', async (t) => {
  const dir = tempDir(t);
  const cases: [string, Record<string, string>, RegExp][] = [
    ['journald', {}, /^logger: no log driver named 'journald' is registered$/],
    ['syslog', {}, /^syslog-address is required: udp:\/\/HOST\[:PORT\]/],
    ['syslog', { 'syslog-address': 'udp://h', 'syslog-facility': 'x' }, /^invalid syslog facility value: x/],
    [
      'local',
      { compress: 'true', 'max-file': '1' },
      /^compression cannot be enabled when max file count is 1$/,
    ],
    ['local', { foo: 'bar' }, /^unknown log opt 'foo' for log driver local$/],
    ['fluentd', { 'fluentd-foo': '1' }, /^unknown log opt 'fluentd-foo' for fluentd log driver$/],
    ['json-file', { 'cache-disabled': 'maybe' }, /^invalid value for option cache-disabled: maybe$/],
    ['json-file', { 'labels-regex': '(' }, /^error parsing regexp in log opt labels-regex/],
    ['json-file', { tag: '{{.Nope}}' }, /can't evaluate field Nope/],
    ['json-file', { 'max-size': 'big' }, /^invalid value for max-size/],
    ['json-file', { 'max-file': '0' }, /max-file cannot be less than 1/],
    ['json-file', { foo: 'bar' }, /^unknown log opt 'foo' for json-file log driver$/],
    ['json-file', { mode: 'fast' }, /logging mode not supported: fast/],
    [
      'json-file',
      { 'max-buffer-size': '4m' },
      /max-buffer-size option is only supported with 'mode=non-blocking'/,
    ],
    [
      'json-file',
      { mode: 'non-blocking', 'max-buffer-size': 'lots' },
      /error parsing option max-buffer-size/,
    ],
  ];
  for (const [type, opts, re] of cases) {
    assert.throws(
      () => validateLogConfig(type, opts),
      isInvalid(re),
      `validate ${type} ${JSON.stringify(opts)}`,
    );
    await assert.rejects(
      createLogDriver(type, opts, info(dir)),
      isInvalid(re),
      `create ${type} ${JSON.stringify(opts)}`,
    );
  }
  validateLogConfig('json-file', { 'max-size': '10m', 'max-file': '3', compress: 'true', mode: 'blocking' });
  validateLogConfig('json-file', { mode: 'non-blocking', 'max-buffer-size': '4m' });
});

test('mode=non-blocking drops lines beyond max-buffer-size instead of queueing without bound', async (t) => {
  const dir = tempDir(t);
  const driver = await createLogDriver(
    'json-file',
    { mode: 'non-blocking', 'max-buffer-size': '10k' },
    info(dir),
  );
  assert.equal(driver.readable, true);
  const line = Buffer.alloc(999, 'x');
  for (let i = 0; i < 1000; i++) driver.log({ stream: 'stdout', line, timeNs: BigInt(i) });
  await driver.close();
  const kept = readFileSync(info(dir).logPath, 'utf8').trimEnd().split('\n').length;
  assert.ok(kept >= 5 && kept <= 11, `${kept} of 1000 lines kept with a 10 KiB buffer`);

  const blocking = await createLogDriver('json-file', {}, { ...info(dir), logPath: join(dir, 'b-json.log') });
  for (let i = 0; i < 1000; i++) blocking.log({ stream: 'stdout', line, timeNs: BigInt(i) });
  await blocking.close();
  assert.equal(readFileSync(join(dir, 'b-json.log'), 'utf8').trimEnd().split('\n').length, 1000);
});
