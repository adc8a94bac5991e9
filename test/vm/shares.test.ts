// Which host folders are shared into the VM, and how the guest learns where
// each goes (the kernel parameter its init decodes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveShares, shareKernelParams, sharedFolders } from '../../vm/shares/shares.js';
import { virtiofsdArgs } from '../../vm/shares/virtiofsd.js';

test('shares: checked, deduplicated, nested folders folded into their parent', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-shares-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = path.join(root, 'a');
  const nested = path.join(a, 'project');
  const b = path.join(root, 'b c');
  mkdirSync(nested, { recursive: true });
  mkdirSync(b);
  writeFileSync(path.join(root, 'file'), '');
  const { shares, problems } = resolveShares([
    nested,
    a,
    b,
    a + '/',
    'relative/dir',
    path.join(root, 'missing'),
    path.join(root, 'file'),
    '/proc/sys',
    '/var/lib/berth',
  ]);
  assert.deepEqual(shares, [
    { hostPath: a, tag: 'berth0' },
    { hostPath: b, tag: 'berth1' },
  ]);
  assert.deepEqual(problems, [
    'share relative/dir: not an absolute path',
    `share ${path.join(root, 'missing')}: does not exist`,
    `share ${path.join(root, 'file')}: not a directory`,
    "share /proc/sys: /proc is the VM's own",
    "share /var/lib/berth: /var/lib/berth is the VM's own",
  ]);
});

test('shares: the setting (BERTH_SHARES, default home, none)', () => {
  assert.deepEqual(sharedFolders({}, '/home/u'), ['/home/u']);
  assert.deepEqual(sharedFolders({ BERTH_SHARES: `/a${path.delimiter}/b` }, '/home/u'), ['/a', '/b']);
  assert.deepEqual(sharedFolders({ BERTH_SHARES: 'none' }, '/home/u'), []);
});

test('shares: kernel parameters carry the path in hex, so spaces and any byte survive', () => {
  const params = shareKernelParams([{ hostPath: '/home/u/my stuff', tag: 'berth0' }], 'virtiofs');
  assert.deepEqual(params, [
    `berth.share=virtiofs:berth0:${Buffer.from('/home/u/my stuff').toString('hex')}`,
  ]);
  assert.doesNotMatch(params[0], /\s/);
});

test('virtiofsd: the command line of either daemon', () => {
  assert.deepEqual(virtiofsdArgs('rust', '/s.sock', '/home/u'), [
    '--socket-path=/s.sock',
    '--shared-dir=/home/u',
    '--cache=auto',
    '--sandbox=namespace',
  ]);
  assert.deepEqual(virtiofsdArgs('c', '/s.sock', '/home/u'), [
    '--socket-path=/s.sock',
    '-o',
    'source=/home/u',
    '-o',
    'cache=auto',
    '-o',
    'sandbox=namespace',
  ]);
});
