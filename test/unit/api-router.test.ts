// The API router: 404 for a path no route has, 405 for a path another method's route has,
// and a catch-all route of another method does not turn an unknown path into a 405.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router } from '../../guest-agent/api/router.js';

const noop = () => undefined;

test('a 405 names a path another method has; a catch-all of another method leaves an unknown path a 404', () => {
  const router = new Router()
    .add('GET', '/containers/{id}/logs', noop)
    .add('DELETE', '/containers/{id}', noop)
    .add('DELETE', '/containers/{link*}', noop);
  assert.equal(router.match('POST', '/containers/abc/logs'), 'method-not-allowed');
  assert.equal(router.match('GET', '/containers/abc'), 'method-not-allowed');
  // "registry:5000/img" as a container name: no GET route has it, so not found, not "method not allowed".
  assert.equal(router.match('GET', '/containers/127.0.0.1:5000/img/logs'), undefined);
  const link = router.match('DELETE', '/containers//web/db');
  assert.ok(link && link !== 'method-not-allowed');
  assert.deepEqual(link.params, { link: '/web/db' });
});
