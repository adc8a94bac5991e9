// The event bus and dockerd's event filters, and the request log's masking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, eventMatches } from '../../guest-agent/engine/events.js';
import { parseFilters } from '../../guest-agent/engine/filters.js';
import { redactedTarget } from '../../guest-agent/api/request-log.js';

const f = (o: Record<string, string[]>) => parseFilters(JSON.stringify(o));

test('attributes come out sorted by key, as Go writes a map', () => {
  const bus = new EventBus();
  const e = bus.publish('volume', 'mount', 'v', { driver: 'local', container: 'c', 'read/write': 'true' });
  assert.deepEqual(Object.keys(e.Actor.Attributes), ['container', 'driver', 'read/write']);
  assert.equal(e.status, undefined);
});

test('filters: container/network/volume match ID or name by prefix; values of a key are alternatives', () => {
  const bus = new EventBus();
  const net = bus.publish('network', 'connect', 'f00dnet', {
    container: 'c1',
    name: 'front',
    type: 'bridge',
  });
  const ctr = bus.publish('container', 'start', 'c1c1', { image: 'busybox', name: 'web' });
  const vol = bus.publish('volume', 'create', 'data', { driver: 'local' });
  assert.ok(eventMatches(net, f({ network: ['front'] })));
  assert.ok(eventMatches(net, f({ network: ['f00d'] })));
  assert.ok(eventMatches(net, f({ network: ['back', 'fro'] })));
  assert.ok(!eventMatches(net, f({ container: ['c1'] })), 'the connect event’s actor is the network');
  assert.ok(eventMatches(ctr, f({ container: ['we'] })));
  assert.ok(!eventMatches(ctr, f({ network: ['front'] })));
  assert.ok(eventMatches(vol, f({ volume: ['data'], type: ['volume'] })));
  assert.ok(!eventMatches(vol, f({ type: ['network'] })));
  assert.ok(eventMatches(vol, f({ scope: ['local'] })));
  assert.ok(!eventMatches(vol, f({ scope: ['swarm'] })));
});

test('filters: event is exact except exec_start/exec_create/health_status; label needs every pair', () => {
  const bus = new EventBus();
  const exec = bus.publish('container', 'exec_start: sh -c true', 'c', { name: 'x', tier: 'web' });
  assert.ok(eventMatches(exec, f({ event: ['exec_start'] })));
  assert.ok(!eventMatches(exec, f({ event: ['exec'] })));
  assert.ok(eventMatches(exec, f({ label: ['tier=web', 'name'] })));
  assert.ok(!eventMatches(exec, f({ label: ['tier=db'] })));
  const bare = bus.publish('volume', 'destroy', 'v', {});
  assert.ok(!eventMatches(bare, f({ label: ['x'] })));
});

test('filters: image matches a container’s image or an image event’s name, with or without the tag', () => {
  const bus = new EventBus();
  const ctr = bus.publish('container', 'create', 'c', { image: 'busybox:latest', name: 'x' });
  const tag = bus.publish('image', 'tag', 'sha256:' + 'a'.repeat(64), { name: 'app:1' });
  assert.ok(eventMatches(ctr, f({ image: ['busybox'] })));
  assert.ok(eventMatches(ctr, f({ image: ['busybox:latest'] })));
  assert.ok(!eventMatches(ctr, f({ image: ['busy'] })));
  assert.ok(eventMatches(tag, f({ image: ['app'] })));
  assert.ok(eventMatches(tag, f({ image: ['sha256:' + 'a'.repeat(64)] })));
  assert.ok(!eventMatches(tag, f({ image: ['busybox'] })));
});

test('the request log masks credential-like query values', () => {
  assert.equal(redactedTarget('/v1.47/containers/json?all=1'), '/v1.47/containers/json?all=1');
  assert.equal(
    redactedTarget('/build?t=app&buildargs=%7B%22TOKEN%22%3A%22s3cret%22%7D'),
    '/build?t=app&buildargs=REDACTED',
  );
  assert.equal(redactedTarget('/x?password=p&a=b'), '/x?password=REDACTED&a=b');
});
