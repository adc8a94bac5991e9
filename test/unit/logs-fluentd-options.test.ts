// fluentd options read and refused as dockerd's fluentd driver does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from '../../guest-agent/errors.js';
import { parseFluentdAddress, parseFluentdOptions } from '../../guest-agent/logs/fluentd-options.js';
import { goFormatDuration, goParseDuration } from '../../guest-agent/logs/go-values.js';

test('fluentd-address forms', () => {
  assert.deepEqual(parseFluentdAddress(undefined), { protocol: 'tcp', host: '127.0.0.1', port: 24224 });
  assert.deepEqual(parseFluentdAddress('fluent.local:24225'), {
    protocol: 'tcp',
    host: 'fluent.local',
    port: 24225,
  });
  assert.deepEqual(parseFluentdAddress('tcp://10.0.0.2'), { protocol: 'tcp', host: '10.0.0.2', port: 24224 });
  assert.deepEqual(parseFluentdAddress('tcp://:5000'), { protocol: 'tcp', host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseFluentdAddress('tcp://[::1]:5000'), { protocol: 'tcp', host: '::1', port: 5000 });
  assert.deepEqual(parseFluentdAddress('tls://logs:443'), { protocol: 'tls', host: 'logs', port: 443 });
  assert.deepEqual(parseFluentdAddress('unix:///var/run/fluent.sock'), {
    protocol: 'unix',
    path: '/var/run/fluent.sock',
  });
});

test('bad values are refused with dockerd-style messages', () => {
  const bad = (opts: Record<string, string>, message: string | RegExp) =>
    assert.throws(
      () => parseFluentdOptions(opts),
      (e: unknown) =>
        e instanceof EngineError &&
        e.kind === 'invalid' &&
        (typeof message === 'string' ? e.message === message : message.test(e.message)),
      JSON.stringify(opts),
    );
  bad({ 'fluentd-adress': 'x' }, "unknown log opt 'fluentd-adress' for fluentd log driver");
  bad({ 'fluentd-address': 'udp://h:1' }, "invalid fluentd-address (udp://h:1): unsupported scheme: 'udp'");
  bad({ 'fluentd-address': 'unix://' }, 'invalid fluentd-address (unix://): path is empty');
  bad(
    { 'fluentd-address': 'tcp://h:1/p' },
    'invalid fluentd-address (tcp://h:1/p): should not contain a path element',
  );
  bad(
    { 'fluentd-address': 'h:99999' },
    'invalid fluentd-address (h:99999): invalid port: strconv.ParseUint: parsing "99999": value out of range',
  );
  bad(
    { 'fluentd-async': 'yes' },
    'invalid value for fluentd-async: strconv.ParseBool: parsing "yes": invalid syntax',
  );
  bad({ 'fluentd-buffer-limit': 'lots' }, "invalid value for fluentd-buffer-limit: invalid size: 'lots'");
  bad(
    { 'fluentd-retry-wait': '5' },
    'invalid value for fluentd-retry-wait: time: missing unit in duration "5"',
  );
  bad({ 'fluentd-max-retries': '-1' }, /^invalid value for fluentd-max-retries: strconv.ParseUint/);
  bad({ 'fluentd-max-retries': '3000000000' }, 'invalid fluentd-max-retries: value out of range');
  bad(
    { 'fluentd-async-reconnect-interval': '50ms' },
    'invalid value for fluentd-async-reconnect-interval: value ("50ms") must be between 100ms and 10s',
  );
  bad(
    { 'fluentd-write-timeout': '-1s' },
    'invalid value for fluentd-write-timeout: value must be a duration that is non-negative',
  );
  bad({ tag: '{{.Nope}}' }, /can't evaluate field Nope/);
});

test('defaults and parsed values', () => {
  const d = parseFluentdOptions({});
  assert.equal(d.bufferLimit, 1048576);
  assert.equal(d.retryWaitMs, 1000);
  assert.equal(d.maxRetries, 2 ** 31 - 1);
  assert.equal(d.async, false);
  const c = parseFluentdOptions({
    'fluentd-buffer-limit': '8m',
    'fluentd-retry-wait': '1.5s',
    'fluentd-max-retries': '7',
    'fluentd-async': 'true',
    'fluentd-async-reconnect-interval': '2s',
    'fluentd-request-ack': 'true',
    'fluentd-sub-second-precision': '1',
    labels: 'a',
    env: 'B',
    tag: '{{.Name}}',
  });
  assert.equal(c.bufferLimit, 8 * 1024 * 1024);
  assert.equal(c.retryWaitMs, 1500);
  assert.equal(c.maxRetries, 7);
  assert.equal(c.asyncReconnectIntervalMs, 2000);
  assert.ok(c.async && c.requestAck && c.subSecondPrecision);
});

test('Go durations', () => {
  assert.equal(goParseDuration('1h2m3.5s'), 3723.5e9);
  assert.equal(goParseDuration('250ms'), 250e6);
  assert.equal(goParseDuration('0'), 0);
  assert.throws(() => goParseDuration('1x'), /time: unknown unit "x" in duration "1x"/);
  assert.equal(goFormatDuration(100e6), '100ms');
  assert.equal(goFormatDuration(10e9), '10s');
  assert.equal(goFormatDuration(90e9), '1m30s');
});
