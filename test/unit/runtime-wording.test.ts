// crun's errors for a process that cannot start, in the words dockerd (with runc)
// gives: the docker CLI picks exit codes 126/127 and its mount hint from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runcWording } from '../../guest-agent/runtime/oci-runtime.js';

test('crun errors read as runc words them', () => {
  assert.equal(
    runcWording('executable file `nope` not found in $PATH: No such file or directory', 'nope'),
    'exec: "nope": executable file not found in $PATH',
  );
  assert.equal(
    runcWording('executable file `/no/x` not found in $PATH: No such file or directory', '/no/x'),
    'exec: "/no/x": stat /no/x: no such file or directory',
  );
  assert.equal(
    runcWording('open executable: Permission denied', '/etc/passwd'),
    'exec: "/etc/passwd": permission denied',
  );
  assert.equal(
    runcWording('open executable: Operation not permitted', '/etc'),
    'exec: "/etc": permission denied',
  );
  assert.equal(
    runcWording('mount `/tmp/a-file` to `etc`: Not a directory', undefined),
    'error mounting "/tmp/a-file" to rootfs at "/etc": not a directory',
  );
  assert.equal(
    runcWording('chdir `/nonexist`: No such file or directory', 'true'),
    'chdir to cwd ("/nonexist") set in config.json failed: no such file or directory',
  );
  assert.equal(runcWording('something else: Permission denied', 'x'), 'something else: permission denied');
  assert.equal(runcWording('cgroup trouble', 'x'), 'cgroup trouble');
});
