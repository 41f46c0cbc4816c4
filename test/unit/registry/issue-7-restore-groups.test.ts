/**
 * Issue #7: a restart restores each model version into the model group it was recorded in, with
 * the real groups service: latest_version is not bumped by restarts, access rules keep applying,
 * and a version whose group no longer exists is not restored (never restored without its rules).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_PRINCIPAL, type Principal } from '../../../src/auth/principal.js';
import { makeConfig } from '../../../src/config/load.js';
import { Groups } from '../../../src/groups/groups.js';
import { silentLogger } from '../../../src/logger.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { FakeGroups, setup } from './fakes.js';

const alice: Principal = { kind: 'user', name: 'alice', backendRoles: ['analyst'], roles: ['ml_full_access'] };
const bob: Principal = { kind: 'user', name: 'bob', backendRoles: ['hr'], roles: ['ml_full_access'] };

/** The snapshot a registry would restore from, as loadConfig passes it (`model_snapshot`). */
function snapshotOf(models: Record<string, Record<string, { marName: string; defaultVersion: boolean; modelGroupId?: string }>>): string {
  const full: Record<string, Record<string, unknown>> = {};
  let count = 0;
  for (const [name, versions] of Object.entries(models)) {
    full[name] = {};
    for (const [v, rec] of Object.entries(versions)) {
      count++;
      full[name][v] = { minWorkers: 0, maxWorkers: 0, batchSize: 1, maxBatchDelay: 100, responseTimeout: 120, startupTimeout: 120, runtimeType: 'python', ...rec };
    }
  }
  return JSON.stringify({ name: 'x', modelCount: count, created: 1, models: full });
}

test('restart with the real groups service: versions go back into their group, latest_version stays, access still applies', async (t) => {
  const store = openSqliteStore(':memory:', silentLogger());
  t.after(() => store.close());
  const groups = new Groups({ store, log: silentLogger(), config: { modelAccessControlEnabled: true } });
  await groups.init();
  const h = await setup(t, { enable_model_api: 'true' }, { groups });
  await h.mar('m1.mar', { modelName: 'm', modelVersion: '1.0' });
  await h.mar('m2.mar', { modelName: 'm', modelVersion: '2.0' });
  await h.registry.register({ url: 'm1.mar', initialWorkers: 0 }, alice);
  await h.registry.register({ url: 'm2.mar', initialWorkers: 0 }, alice);
  const groupId = h.registry.get('m').groupId!;
  const before = (await store.getGroup(groupId))!;
  assert.equal(before.doc.latest_version, 2);
  await h.registry.close();

  const snapshot = snapshotOf({ m: { '1.0': { marName: 'm1.mar', defaultVersion: false, modelGroupId: groupId }, '2.0': { marName: 'm2.mar', defaultVersion: true, modelGroupId: groupId } } });
  for (let restart = 0; restart < 3; restart++) {
    const registry = h.newRegistry(makeConfig({ model_store: h.store, model_snapshot: snapshot }, { cwd: h.dir }), { groups });
    const result = await registry.loadStartupModels();
    assert.deepEqual(result.failed, [], `restart ${restart}`);
    assert.deepEqual(registry.versions('m').map((e) => [e.version, e.groupId]), [['1.0', groupId], ['2.0', groupId]]);
    assert.equal(registry.get('m').version, '2.0');
    await assert.rejects(registry.describe('m', undefined, bob), { status: 404 }, 'still private to alice');
    assert.equal((await registry.describe('m', undefined, alice)).length, 1);
    await registry.close();
  }
  const after = (await store.getGroup(groupId))!;
  assert.equal(after.doc.latest_version, 2, 'restarts do not bump latest_version');
  assert.equal(after.seqNo, before.seqNo, 'the group document was not rewritten');

  // The next real registration gets the next number.
  const registry = h.newRegistry(makeConfig({ model_store: h.store, model_snapshot: snapshot, enable_model_api: 'true' }, { cwd: h.dir }), { groups });
  await registry.loadStartupModels();
  await h.mar('m3.mar', { modelName: 'm', modelVersion: '3.0' });
  await registry.register({ url: 'm3.mar', initialWorkers: 0 }, alice);
  assert.equal((await store.getGroup(groupId))!.doc.latest_version, 3);
  await registry.close();
});

test('restore: a version whose recorded group is gone is not restored; others are; reserve is never called', async (t) => {
  const groups = new FakeGroups();
  groups.missing.add('gone');
  const h = await setup(t, {}, { groups });
  await h.mar('a.mar', { modelName: 'a' });
  await h.mar('b.mar', { modelName: 'b' });
  await h.mar('c.mar', { modelName: 'c' });
  const snapshot = snapshotOf({
    a: { '1.0': { marName: 'a.mar', defaultVersion: true, modelGroupId: 'ga' } },
    b: { '1.0': { marName: 'b.mar', defaultVersion: true, modelGroupId: 'gone' } },
    c: { '1.0': { marName: 'c.mar', defaultVersion: true } },
  });
  const registry = h.newRegistry(makeConfig({ model_store: h.store, model_snapshot: snapshot }, { cwd: h.dir }));
  const result = await registry.loadStartupModels();
  assert.deepEqual(result.failed, ['b.mar']);
  assert.deepEqual(registry.names(), ['a', 'c']);
  assert.deepEqual(groups.restored, ['ga']);
  assert.equal(registry.get('a').groupId, 'ga');
  assert.deepEqual(groups.reservations.map((r) => [r.req.modelName, r.principal]), [['c', NO_PRINCIPAL]], 'only the version recorded without a group is reserved');
  assert.equal((await h.extracted()).length, 2, 'the refused version left no extraction behind');
  await registry.close();
});
