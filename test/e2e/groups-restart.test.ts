/**
 * Issue #7 "Store": users, role mappings, groups, persistent settings and access survive a restart
 * of the real server, transient settings do not, restarts do not bump a group's latest_version,
 * and a `kill -9` right after acknowledged writes loses none of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeWorkspace, startBackground, type Workspace } from '../helpers/tsserve.js';
import {
  ACCESS_SETTING,
  PASSWORDS,
  assertStatus,
  basic,
  clients,
  createUsers,
  predictAdd,
  registerGroup,
  searchIds,
  sorted,
  writeAddArchive,
  type Clients,
  type Json,
} from './groups-client.js';

const GROUPS = '/_plugins/_ml/model_groups';

/** Every group as the admin sees it (id → document), plus users and role mappings. */
async function storedState(c: Clients): Promise<{ groups: Record<string, Json>; users: Json; mappings: Json }> {
  const search = await c.admin('POST', `${GROUPS}/_search`, { query: { match_all: {} }, size: 100 });
  assertStatus(search, 200);
  const groups: Record<string, Json> = {};
  for (const hit of search.body.hits.hits) groups[hit._id] = hit._source;
  const users = (await c.admin('GET', '/_plugins/_security/api/internalusers')).body;
  const mappings = (await c.admin('GET', '/_plugins/_security/api/rolesmapping')).body;
  return { groups, users, mappings };
}

/** Every version of every model the admin sees: name/version → model group id. */
async function modelGroups(c: Clients): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { modelName } of (await c.admin('GET', '/models')).body.models as { modelName: string }[]) {
    for (const d of (await c.admin('GET', `/models/${modelName}/all`)).body as Json[]) out[`${modelName}/${d.modelVersion}`] = d.modelGroupId;
  }
  return out;
}

/** Predicts on a model restored at start, whose worker may still be loading (503 until then). */
async function predictWhenReady(c: Clients, url: string): Promise<number[] | undefined> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await predictAdd(c.inferenceAs('alice'), url);
    if (res.status !== 503 || Date.now() > deadline) {
      assertStatus(res, 200, url);
      return res.values;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGKILL the server named in the pid file and wait until it is gone (a zombie counts as gone). */
async function killServer(ws: Workspace): Promise<void> {
  const pid = Number(fs.readFileSync(ws.pidFile, 'utf8').trim());
  assert.ok(Number.isInteger(pid) && pid > 0 && pid !== process.pid, `pid file: ${pid}`);
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  for (;;) {
    let alive = true;
    try {
      process.kill(pid, 0);
      alive = !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      alive = false;
    }
    if (!alive) return;
    if (Date.now() > deadline) assert.fail(`server ${pid} still alive after SIGKILL`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('restart keeps users, groups, persistent settings and access; kill -9 right after writes loses nothing', { timeout: 90_000 }, async (t) => {
  const ws = makeWorkspace(t);
  await writeAddArchive(ws, 'add.mar', '1.0');
  await writeAddArchive(ws, 'add-v2.mar', '2.0');
  const args = ['--enable-model-api'];

  // ---- first run: access control on through a *transient* setting only
  let server = await startBackground(t, ws, args);
  let c = clients(ws, server);
  await createUsers(c.admin, { alice: ['analyst'], bob: ['human-resources'] }, { ml_full_access: ['alice', 'bob'] });
  assertStatus(await c.admin('PUT', '/_cluster/settings', { transient: { [ACCESS_SETTING]: 'true' } }), 200);
  const alice = () => c.as('alice');
  const bob = () => c.as('bob');
  const priv = await registerGroup(alice(), { name: 'alice private' });
  const pub = await registerGroup(alice(), { name: 'alice public', access_mode: 'public' });
  assertStatus(await alice()('POST', `/models?url=add.mar&model_name=secret&model_group_id=${priv}&initial_workers=1`), 200);
  assertStatus(await alice()('POST', '/models?url=add-v2.mar&model_name=secret&initial_workers=0'), 200);
  assertStatus(await alice()('POST', `/models?url=add.mar&model_name=shared&model_group_id=${pub}&initial_workers=0`), 200);
  assertStatus(await bob()('GET', '/models/secret'), 404);
  const before = await storedState(c);
  assert.equal(before.groups[priv].latest_version, 2);
  const modelsBefore = await modelGroups(c);
  assert.deepEqual(modelsBefore, { 'secret/1.0': priv, 'secret/2.0': priv, 'shared/1.0': pub });

  // ---- graceful restart, twice: everything stored is back, unchanged; the transient setting is not
  for (let restart = 1; restart <= 2; restart++) {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    server = await startBackground(t, ws, args);
    c = clients(ws, server);
    const after = await storedState(c);
    assert.deepEqual(after, before, `restart ${restart}: groups (latest_version, times), users and role mappings unchanged`);
    assert.deepEqual(await modelGroups(c), modelsBefore, `restart ${restart}: versions restored into their groups`);
    const settings = await c.admin('GET', '/_cluster/settings');
    assert.deepEqual(settings.body, { persistent: {}, transient: {} }, 'the transient setting is gone');
    // Access control is off again, so nothing is enforced.
    assertStatus(await bob()('GET', '/models/secret'), 200, 'transient setting forgotten');
    assert.deepEqual(await predictWhenReady(c, '/predictions/secret/1.0'), [2, 3, 4, 5], 'users authenticate, models serve');
  }

  // ---- persistent on, then writes, then kill -9 straight after the last acknowledgement
  assertStatus(await c.admin('PUT', '/_cluster/settings', { persistent: { [ACCESS_SETTING]: 'true' } }), 200);
  assertStatus(await bob()('GET', '/models/secret'), 404);
  assertStatus(await c.admin('PUT', '/_plugins/_security/api/internalusers/carol', { password: 'carol-password', backend_roles: ['analyst'] }), 201);
  assertStatus(await c.admin('PUT', '/_plugins/_security/api/rolesmapping/ml_full_access', { users: ['alice', 'bob', 'carol'] }), 200);
  const crash = await registerGroup(alice(), { name: 'made before the crash', access_mode: 'restricted', backend_roles: ['analyst'] });
  assertStatus(await alice()('PUT', `${GROUPS}/${priv}`, { description: 'updated before the crash' }), 200);
  assertStatus(await alice()('POST', `/models?url=add.mar&model_name=crashy&model_group_id=${crash}&initial_workers=0`), 200);
  assertStatus(await alice()('DELETE', '/models/shared'), 200, 'the last version of the public group takes the group');
  const acknowledged = await storedState(c);
  await killServer(ws);

  server = await startBackground(t, ws, args);
  c = clients(ws, server);
  const recovered = await storedState(c);
  assert.deepEqual(recovered, acknowledged, 'every acknowledged write survived kill -9');
  assert.equal(recovered.groups[priv].description, 'updated before the crash');
  assert.equal(recovered.groups[priv].latest_version, 2, 'still not bumped');
  assert.equal(recovered.groups[crash].latest_version, 1);
  assert.equal(recovered.groups[pub], undefined, 'deleted with its last model version');
  assert.deepEqual(await modelGroups(c), { 'crashy/1.0': crash, 'secret/1.0': priv, 'secret/2.0': priv });
  // Consistent: every model's group exists and has handed out at least as many numbers as it holds.
  for (const [model, groupId] of Object.entries(await modelGroups(c))) {
    assert.ok(recovered.groups[groupId], `${model}: group ${groupId} exists`);
  }

  // The persistent setting survived: access is enforced for the users who survived too.
  assert.deepEqual((await c.admin('GET', '/_cluster/settings?flat_settings=true')).body, { persistent: { [ACCESS_SETTING]: 'true' }, transient: {} });
  assertStatus(await bob()('GET', '/models/secret'), 404);
  assertStatus(await bob()('GET', '/models/crashy'), 404);
  assertStatus(await c.as('carol')('GET', '/models/crashy'), 200, 'carol (analyst) shares the restricted group\'s role');
  assertStatus(await c.as('carol')('GET', '/models/secret'), 404);
  assert.deepEqual(await searchIds(bob(), { match_all: {} }), []);
  assert.deepEqual(await searchIds(alice(), { match_all: {} }), sorted([priv, crash]));
  assert.deepEqual(await predictWhenReady(c, '/predictions/secret/1.0'), [2, 3, 4, 5]);
  assertStatus(await c.as('alice', 'wrong-password')('GET', '/models'), 401);

  // Passwords and Basic credentials never reach the logs.
  const logDir = path.join(ws.dir, 'logs');
  for (const file of fs.readdirSync(logDir, { recursive: true }) as string[]) {
    const full = path.join(logDir, file);
    if (!fs.statSync(full).isFile()) continue;
    const text = fs.readFileSync(full, 'utf8');
    for (const secret of [...Object.values(PASSWORDS), basic('alice').slice('Basic '.length), 'scrypt$']) {
      assert.ok(!text.includes(secret), `${file} contains a secret`);
    }
  }

  // The next registration continues the numbering.
  assertStatus(await alice()('POST', `/models?url=add.mar&model_name=crashy2&model_group_id=${priv}&initial_workers=0`), 200);
  assert.equal((await alice()('GET', `${GROUPS}/${priv}`)).body.latest_version, 3);
});
