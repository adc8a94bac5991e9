// Request bodies checked against the Engine API's JSON types: what Go's
// decoding refuses in dockerd is a 400 naming the field here.
import assert from 'node:assert/strict';
import test from 'node:test';
import { checkShape } from '../../guest-agent/api/request-shape.js';
import { REQUEST_SHAPES } from '../../guest-agent/api/request-shapes.generated.js';
import { HttpError } from '../../guest-agent/api/http-errors.js';

const create = REQUEST_SHAPES['POST /containers/create'];

function refusal(body: unknown): string {
  try {
    checkShape(body, create);
  } catch (err) {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 400);
    return err.message;
  }
  assert.fail('accepted');
}

test('well-typed bodies pass, with nulls and fields the spec does not know', () => {
  checkShape(
    {
      Image: 'busybox',
      Cmd: 'echo hi', // a string is a StrSlice too
      Entrypoint: ['sh', '-c'],
      Env: ['A=1'],
      Labels: { a: 'b' },
      Unknown: { anything: [1] },
      HostConfig: { Memory: 1 << 30, PidsLimit: null, Mounts: [{ Type: 'tmpfs', Target: '/t' }] },
      NetworkingConfig: { EndpointsConfig: { net: { Aliases: ['x'] } } },
    },
    create,
  );
});

test('a wrong type anywhere is refused, naming the field', () => {
  assert.match(refusal({ Env: 'A=B' }), /Env: expected an array of strings, got string "A=B"/);
  assert.match(refusal({ HostConfig: { Mounts: 'x' } }), /HostConfig\.Mounts: expected an array of objects/);
  assert.match(
    refusal({ HostConfig: { Mounts: [{ Type: 1 }] } }),
    /HostConfig\.Mounts\[0\]\.Type: expected a string/,
  );
  assert.match(refusal({ Labels: { a: 1 } }), /Labels\.a: expected a string, got integer 1/);
  assert.match(
    refusal({ HostConfig: { Memory: 1.5 } }),
    /HostConfig\.Memory: expected an integer, got number/,
  );
  assert.match(refusal({ HostConfig: { Memory: 1e300 } }), /HostConfig\.Memory: expected an integer/);
  assert.match(refusal([]), /the body: expected an object, got array/);
});

test('routes without a known body are not checked', () => {
  checkShape('anything', undefined);
});
