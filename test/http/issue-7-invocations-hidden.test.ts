/**
 * Issue #7 "do not leak existence": `/invocations` without a model name picks the only model loaded
 * at startup, but never one the caller may not see (its name would appear in the 404).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHarness, type FakeRuntime } from './inference-fakes.js';

test('/invocations does not pick a startup model the caller may not see', async (t) => {
  const h = await buildHarness({}, (r) => r.add('secret', '1.0', { groupId: 'g2', loadedAtStartup: true }));
  h.groups.allowed.set('g2', new Set(['alice']));
  t.after(() => h.app.close());

  const bob = await h.app.inject({ method: 'POST', url: '/invocations', headers: { 'x-test-user': 'bob' }, payload: '{}' });
  assert.equal(bob.statusCode, 400, bob.body);
  assert.deepEqual(bob.json(), { code: 400, type: 'BadRequestException', message: 'Parameter model_name is required.' }, 'as if no model had been loaded');
  assert.ok(!bob.body.includes('secret'));
  assert.equal((h.registry.get('secret').runtime as FakeRuntime).submitted.length, 0);

  const alice = await h.app.inject({ method: 'POST', url: '/invocations', headers: { 'x-test-user': 'alice' }, payload: '{}' });
  assert.equal(alice.statusCode, 200, 'the owner still gets the implicit model');
  const anonymous = await h.app.inject({ method: 'POST', url: '/invocations', payload: '{}' });
  assert.equal(anonymous.statusCode, 200, 'no identity: access control inactive');
});
