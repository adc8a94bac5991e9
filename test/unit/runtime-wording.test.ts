// crun's errors for a process that cannot start, in the words dockerd (with runc)
// gives: the docker CLI picks exit codes 126/127 and its mount hint from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runcWording } from '../../guest-agent/runtime/crun-wording.js';

const CASES: Array<[crun: string, command: string | undefined, runc: string]> = [
  [
    'executable file `nope` not found in $PATH: No such file or directory',
    'nope',
    'exec: "nope": executable file not found in $PATH',
  ],
  [
    'executable file `/no/x` not found in $PATH: No such file or directory',
    '/no/x',
    'exec: "/no/x": stat /no/x: no such file or directory',
  ],
  ['open executable: Permission denied', '/etc/passwd', 'exec: "/etc/passwd": permission denied'],
  ['open executable: Operation not permitted', '/etc', 'exec: "/etc": permission denied'],
  [
    'mount `/tmp/a-file` to `etc`: Not a directory',
    undefined,
    'error mounting "/tmp/a-file" to rootfs at "/etc": not a directory',
  ],
  [
    'chdir `/nonexist`: No such file or directory',
    'true',
    'chdir to cwd ("/nonexist") set in config.json failed: no such file or directory',
  ],
  ['something else: Permission denied', 'x', 'something else: permission denied'],
  ['cgroup trouble', 'x', 'cgroup trouble'],
];

test('crun errors read as runc words them', () => {
  for (const [crun, command, runc] of CASES) assert.equal(runcWording(crun, command), runc, crun);
});
