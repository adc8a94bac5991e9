// labels/env/tag → "attrs" in json-file entries (as dockerd's json.Marshal writes them) and the
// `docker logs --details` prefix.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createLogDriver } from '../../guest-agent/logs/log-driver.js';
import { detailsPrefix, goQueryEscape } from '../../guest-agent/logs/log-details.js';
import { extraAttributes, type ContainerLogInfo } from '../../guest-agent/logs/log-info.js';
import { goJsonString } from '../../guest-agent/logs/go-json.js';
import { renderLogTag } from '../../guest-agent/logs/log-tag.js';
import { readJsonFileLogs } from '../../guest-agent/logs/json-file-reader.js';
import { encodeJsonLogEntry, streamPartsWithAttrs } from '../../guest-agent/logs/json-file-writer.js';

const ID = '0123456789ab'.repeat(5) + 'cdef';
const info: ContainerLogInfo = {
  id: ID,
  name: '/shop-web',
  imageId: `sha256:${'fe'.repeat(32)}`,
  imageName: 'busybox',
  entrypoint: 'sh',
  args: ['-c', 'echo hi'],
  env: ['PATH=/bin', 'REGION=eu west', 'APP_MODE=prod', 'APP_DEBUG=0', 'EMPTY='],
  labels: { app: 'shop', 'com.example.tier': 'front', 'com.example.owner': 'a&b <c>' },
};

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-attrs-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('extraAttributes picks named and matching labels and env as dockerd', () => {
  const got = extraAttributes(
    {
      labels: 'app,nope',
      'labels-regex': '^com\\.example\\.t',
      env: 'REGION,EMPTY,NOPE',
      'env-regex': '^APP_',
    },
    info,
  );
  assert.deepEqual(Object.fromEntries(got), {
    app: 'shop',
    'com.example.tier': 'front',
    REGION: 'eu west',
    EMPTY: '',
    APP_MODE: 'prod',
    APP_DEBUG: '0',
  });
  assert.deepEqual(Object.fromEntries(extraAttributes({ env: 'REGION' }, { ...info, env: [] })), {});
});

test('tag templates render as dockerd renders them', () => {
  const r = (tag: string, def = '') => renderLogTag(tag ? { tag } : {}, info, def);
  assert.equal(r('', '{{.ID}}'), ID.slice(0, 12));
  assert.equal(r(''), '');
  assert.equal(r('{{.FullID}}'), ID);
  assert.equal(r('{{.Name}}'), 'shop-web');
  assert.equal(r('{{.ImageID}}'), 'fe'.repeat(6));
  assert.equal(r('{{.ImageFullID}}'), `sha256:${'fe'.repeat(32)}`);
  assert.equal(r('app/{{.ImageName}}/{{.Name | upper}}'), 'app/busybox/SHOP-WEB');
  assert.equal(r('{{ .Command }}'), 'sh -c echo hi');
  assert.equal(r('{{.ID | truncate 4}}-{{.DaemonName}}'), '0123-docker');
  assert.throws(() => r('{{.Bogus}}'), /can't evaluate field Bogus in type \*logger.Info/);
});

test('json-file entries carry attrs between stream and time, Go-marshalled and sorted', async (t) => {
  const dir = tempDir(t);
  const logPath = join(dir, `${ID}-json.log`);
  const d = await createLogDriver(
    'json-file',
    { labels: 'app,com.example.owner', env: 'REGION', tag: '{{.Name}}/{{.ID}}' },
    { containerId: ID, logPath, container: info },
  );
  d.log({ stream: 'stdout', line: Buffer.from('hi\n'), timeNs: 1714566896123456789n });
  d.log({ stream: 'stderr', line: Buffer.alloc(0), timeNs: 1714566896200000000n });
  await d.close();
  assert.equal(
    readFileSync(logPath, 'utf8'),
    '{"log":"hi\\n","stream":"stdout","attrs":{"REGION":"eu west","app":"shop","com.example.owner":"a\\u0026b \\u003cc\\u003e","tag":"shop-web/0123456789ab"},"time":"2024-05-01T12:34:56.123456789Z"}\n' +
      '{"stream":"stderr","attrs":{"REGION":"eu west","app":"shop","com.example.owner":"a\\u0026b \\u003cc\\u003e","tag":"shop-web/0123456789ab"},"time":"2024-05-01T12:34:56.2Z"}\n',
  );
  const read: string[] = [];
  const stopped = { isRunning: () => false, onWrite: () => () => undefined };
  for await (const m of readJsonFileLogs(logPath, { stdout: true, stderr: true, follow: false }, stopped)) {
    read.push(detailsPrefix(m.attrs).toString() + m.line.toString());
  }
  assert.deepEqual(read, [
    'REGION=eu+west,app=shop,com.example.owner=a%26b+%3Cc%3E,tag=shop-web%2F0123456789ab hi\n',
    'REGION=eu+west,app=shop,com.example.owner=a%26b+%3Cc%3E,tag=shop-web%2F0123456789ab ',
  ]);
});

test('without attribute options the entry has no attrs and --details prints only the space', () => {
  const line = encodeJsonLogEntry(
    { stream: 'stdout', line: Buffer.from('x\n'), timeNs: 0n },
    streamPartsWithAttrs([]),
  );
  assert.equal(line.toString(), '{"log":"x\\n","stream":"stdout","time":"1970-01-01T00:00:00Z"}\n');
  assert.equal(detailsPrefix(undefined).toString(), ' ');
});

test("Go's JSON string and query escaping", () => {
  assert.equal(
    goJsonString('a"b\\c\n\t\u0001<>&\u2028é😀'),
    '"a\\"b\\\\c\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2028é😀"',
  );
  assert.equal(goJsonString('\ud800x'), '"\\ufffdx"');
  assert.equal(goQueryEscape("a b/c=d,e~f_g.h-i!*'()é"), 'a+b%2Fc%3Dd%2Ce~f_g.h-i%21%2A%27%28%29%C3%A9');
});
