/**
 * The groups service replaying the seed's story (model-groups.md, issue #7): alice (analyst) and
 * bob (human-resources), public / private / restricted groups, what bob may see and do, every
 * validation message with its status, delete rules, disabled mode, and model-version bookkeeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_PRINCIPAL, keyHolder, type Principal } from '../../../src/auth/principal.js';
import { ACCESS_CONTROL_SETTING, Groups, newGroupId } from '../../../src/groups/groups.js';
import { OpenSearchError } from '../../../src/groups/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import type { MetadataStore } from '../../../src/store/store.js';

const admin = keyHolder('management-key');
const user = (name: string, backendRoles: string[], roles = ['ml_full_access']): Principal => ({ kind: 'user', name, backendRoles, roles });
const alice = user('alice', ['analyst']);
const bob = user('bob', ['human-resources']);
const carol = user('carol', ['analyst', 'human-resources']);
const dave = user('dave', []);

type T = { after: (fn: () => Promise<void>) => void };

async function setup(t: T, opts: { enabled?: boolean; store?: MetadataStore } = {}) {
  const store = opts.store ?? openSqliteStore(':memory:', silentLogger());
  if (!opts.store) t.after(() => store.close());
  let clock = 1_700_000_000_000;
  const groups = new Groups({ store, log: silentLogger(), config: { modelAccessControlEnabled: opts.enabled ?? false }, now: () => (clock += 1000) });
  await groups.init();
  return { store, groups };
}

/** Asserts an OpenSearchError with this status, type and reason, and its wire envelope. */
async function rejectsWith(p: Promise<unknown>, status: number, type: string, reason: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OpenSearchError, `expected OpenSearchError, got ${String(err)}`);
    assert.equal(err.status, status, `status of: ${err.message}`);
    assert.equal(err.type, type, `type of: ${err.message}`);
    if (typeof reason === 'string') assert.equal(err.message, reason);
    else assert.match(err.message, reason);
    assert.deepEqual(err.body(), { error: { root_cause: [{ type, reason: err.message }], type, reason: err.message }, status });
    return true;
  });
}

async function story(t: T) {
  const s = await setup(t, { enabled: true });
  const { groups } = s;
  const reg = async (p: Principal, body: Record<string, unknown>) => (await groups.register(p, body)).model_group_id;
  const ids = {
    pub: await reg(alice, { name: 'public group', description: 'open to all', access_mode: 'public' }),
    priv: await reg(alice, { name: 'private group' }),
    restr: await reg(alice, { name: 'restricted roles', backend_roles: ['analyst'] }),
    restrAll: await reg(alice, { name: 'restricted all', access_mode: 'restricted', add_all_backend_roles: 'true' }),
    hr: await reg(bob, { name: 'hr group', access_mode: 'restricted', backend_roles: ['human-resources'] }),
  };
  return { ...s, ids };
}

const hitIds = (res: { hits: { hits: { _id: string }[] } }): string[] => res.hits.hits.map((h) => h._id).sort();

test('register: response, stored documents and the default access mode', async (t) => {
  const { groups, ids } = await story(t);
  assert.match(ids.pub, /^[A-Za-z0-9][A-Za-z0-9_-]{19}$/);
  assert.deepEqual(await groups.register(alice, { name: 'x1' }).then((r) => r.status), 'CREATED');

  const pub = await groups.get(alice, ids.pub);
  assert.deepEqual(Object.keys(pub), ['name', 'latest_version', 'description', 'owner', 'access', 'created_time', 'last_updated_time']);
  assert.deepEqual(pub.owner, { name: 'alice', backend_roles: ['analyst'], roles: ['ml_full_access'], custom_attribute_names: [], user_requested_tenant: null });
  assert.equal(pub.access, 'public');
  assert.equal(pub.latest_version, 0);
  assert.equal(pub.created_time, pub.last_updated_time);

  assert.equal((await groups.get(alice, ids.priv)).access, 'private', 'default is private');
  assert.equal((await groups.get(alice, ids.priv)).backend_roles, undefined);
  const restr = await groups.get(alice, ids.restr);
  assert.deepEqual([restr.access, restr.backend_roles], ['restricted', ['analyst']], 'roles alone imply restricted');
  const all = await groups.get(alice, ids.restrAll);
  assert.deepEqual([all.access, all.backend_roles], ['restricted', ['analyst']], 'add_all copies the caller roles');

  // custom id
  assert.deepEqual(await groups.register(alice, { name: 'custom', model_group_id: 'my-group_1' }), { model_group_id: 'my-group_1', status: 'CREATED' });
  assert.equal((await groups.get(alice, 'my-group_1')).name, 'custom');
  // access_mode is case-insensitive; an unknown value is silently "not specified" (§3 QUIRK)
  assert.equal((await groups.get(alice, await groups.register(alice, { name: 'up', access_mode: 'PUBLIC' }).then((r) => r.model_group_id))).access, 'public');
  assert.equal((await groups.get(alice, await groups.register(alice, { name: 'odd', access_mode: 'weird' }).then((r) => r.model_group_id))).access, 'private');
});

test('register: every validation message with its status (§4.2, §4.3)', async (t) => {
  const { groups, ids } = await story(t);
  const ve = 'action_request_validation_exception';
  const ia = 'illegal_argument_exception';
  const safe = `can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/")`;
  await rejectsWith(groups.register(alice, undefined), 400, 'parse_exception', 'Model group request has empty body');
  await rejectsWith(groups.register(alice, {}), 400, ia, 'model group name must not be null');
  await rejectsWith(groups.register(alice, { name: null }), 400, ia, 'model group name must not be null');
  await rejectsWith(groups.register(alice, { name: '  ' }), 400, ve, 'Validation Failed: 1: Model group name is required and cannot be null or blank;');
  await rejectsWith(groups.register(alice, { name: 'bad<name>' }), 400, ve, `Validation Failed: 1: Model group name ${safe};`);
  await rejectsWith(groups.register(alice, { name: 'ok', description: 'bad;desc' }), 400, ve, `Validation Failed: 1: Model group description ${safe};`);
  await rejectsWith(
    groups.register(alice, { name: 'bad#', description: 'bad$' }),
    400,
    ve,
    `Validation Failed: 1: Model group name ${safe};2: Model group description ${safe};`,
  );
  assert.equal((await groups.register(alice, { name: `Ünïcødé 名前 (v1.0): "ok" it's/fine@-_!?,` })).status, 'CREATED');

  await rejectsWith(groups.register(alice, { name: 'c', model_group_id: ' ' }), 400, ia, 'model group id is invalid');
  await rejectsWith(groups.register(alice, { name: 'c', model_group_id: '_x' }), 400, ia, "model group id must not start with '_'");
  await rejectsWith(groups.register(alice, { name: 'c', model_group_id: '-x' }), 400, ia, "model group id must not start with '-'");
  await rejectsWith(groups.register(alice, { name: 'c', model_group_id: 'a'.repeat(513) }), 400, ia, 'model group id is too long, max length is 512');
  await rejectsWith(
    groups.register(alice, { name: 'c', model_group_id: 'a.b' }),
    400,
    ia,
    'model group id must contain only letters, digits, underscores, and hyphens, and must start with a letter or digit',
  );

  await rejectsWith(groups.register(bob, { name: 'private group' }), 400, ia, `The name you provided is already being used by a model group with ID: ${ids.priv}.`);
  await rejectsWith(groups.register(alice, { name: 'c', model_group_id: ids.pub }), 409, 'status_exception', `model group id '${ids.pub}' already exists`);

  await rejectsWith(groups.register(alice, { name: 'c', backend_roles: ['analyst'], add_all_backend_roles: true }), 400, ia, 'You cannot specify backend roles and add all backend roles at the same time.');
  await rejectsWith(groups.register(alice, { name: 'c', access_mode: 'public', backend_roles: ['analyst'] }), 400, ia, 'You can specify backend roles only for a model group with the restricted access mode.');
  await rejectsWith(groups.register(alice, { name: 'c', access_mode: 'private', add_all_backend_roles: true }), 400, ia, 'You can specify backend roles only for a model group with the restricted access mode.');
  await rejectsWith(groups.register(admin, { name: 'c', access_mode: 'restricted', add_all_backend_roles: true }), 400, ia, 'Admin users cannot add all backend roles to a model group.');
  await rejectsWith(groups.register(dave, { name: 'c', access_mode: 'restricted', backend_roles: ['x'] }), 400, ia, 'You must have at least one backend role to register a restricted model group.');
  await rejectsWith(groups.register(alice, { name: 'c', access_mode: 'restricted' }), 400, ia, 'You must specify one or more backend roles or add all backend roles to register a restricted model group.');
  await rejectsWith(groups.register(alice, { name: 'c', access_mode: 'restricted', backend_roles: ['analyst'], add_all_backend_roles: true }), 400, ia, 'You cannot specify backend roles and add all backend roles at the same time.');
  await rejectsWith(groups.register(alice, { name: 'c', access_mode: 'restricted', backend_roles: ['human-resources'] }), 400, ia, "You don't have the backend roles specified.");
  // admins may give any roles
  const adminGroup = await groups.register(admin, { name: 'admin restricted', access_mode: 'restricted', backend_roles: ['anything'] });
  assert.deepEqual((await groups.get(admin, adminGroup.model_group_id)).backend_roles, ['anything']);

  // body type errors
  await rejectsWith(groups.register(alice, { name: 'c', backend_roles: 'analyst' }), 400, 'parse_exception', '[backend_roles] must be an array of strings');
  await rejectsWith(groups.register(alice, { name: 'c', add_all_backend_roles: 'yes' }), 400, 'parse_exception', 'Failed to parse value [yes] as only [true] or [false] are allowed.');
  await rejectsWith(groups.register(alice, ['x']), 400, 'parse_exception', /JSON object/);
});

test('get: bob sees exactly what the rules allow; 403 and 404 messages (§6)', async (t) => {
  const { groups, ids } = await story(t);
  assert.equal((await groups.get(bob, ids.pub)).name, 'public group');
  assert.equal((await groups.get(bob, ids.hr)).name, 'hr group');
  for (const id of [ids.priv, ids.restr, ids.restrAll]) {
    await rejectsWith(groups.get(bob, id), 403, 'status_exception', "User doesn't have privilege to perform this operation on this model group");
  }
  // carol shares "analyst": sees restricted ones, not the private one
  assert.equal((await groups.get(carol, ids.restr)).name, 'restricted roles');
  await rejectsWith(groups.get(carol, ids.priv), 403, 'status_exception', "User doesn't have privilege to perform this operation on this model group");
  // admins see everything
  assert.equal((await groups.get(admin, ids.priv)).name, 'private group');
  await rejectsWith(groups.get(bob, 'nope'), 404, 'status_exception', 'Failed to find model group with the provided model group id: nope');

  const empty = await setup(t, { enabled: true });
  await rejectsWith(empty.groups.get(bob, 'nope'), 404, 'status_exception', 'Failed to find model group index');
});

test('search: visibility for match_all, nested owner.name.keyword term and _id terms (§7)', async (t) => {
  const { groups, ids } = await story(t);
  const matchAll = { query: { match_all: {} } };
  assert.deepEqual(hitIds(await groups.search(bob, matchAll)), [ids.pub, ids.hr].sort());
  assert.deepEqual(hitIds(await groups.search(alice, matchAll)), [ids.pub, ids.priv, ids.restr, ids.restrAll].sort());
  assert.deepEqual(hitIds(await groups.search(carol, matchAll)), [ids.pub, ids.restr, ids.restrAll, ids.hr].sort());
  assert.equal((await groups.search(admin, matchAll)).hits.total!.value, 5);
  assert.deepEqual(hitIds(await groups.search(bob, {})), [ids.pub, ids.hr].sort(), 'no query: the ACL alone');

  const byOwner = { query: { nested: { path: 'owner', query: { term: { 'owner.name.keyword': 'alice' } } } } };
  assert.deepEqual(hitIds(await groups.search(bob, byOwner)), [ids.pub]);
  assert.deepEqual(hitIds(await groups.search(alice, byOwner)), [ids.pub, ids.priv, ids.restr, ids.restrAll].sort());

  const byId = { query: { terms: { _id: [ids.priv, ids.pub, ids.restr] } } };
  assert.deepEqual(hitIds(await groups.search(bob, byId)), [ids.pub]);
  assert.deepEqual(hitIds(await groups.search(carol, byId)), [ids.pub, ids.restr].sort());

  const boolQuery = { query: { bool: { should: [{ term: { 'name.keyword': 'private group' } }, { term: { 'name.keyword': 'hr group' } }] } } };
  assert.deepEqual(hitIds(await groups.search(bob, boolQuery)), [ids.hr], 'should clauses stay required after the ACL filter');

  const res = await groups.search(bob, { query: { term: { 'name.keyword': 'public group' } } });
  assert.equal(res.hits.hits.length, 1);
  const hit = res.hits.hits[0]!;
  assert.deepEqual(Object.keys(hit), ['_index', '_id', '_version', '_seq_no', '_primary_term', '_score', '_source']);
  assert.equal(hit._index, '.plugins-ml-model-group');
  assert.equal(hit._primary_term, 1);
  assert.equal(hit._version, 1);
  assert.equal((hit._source as { name: string }).name, 'public group');
  assert.deepEqual(Object.keys(res), ['took', 'timed_out', '_shards', 'hits']);
  assert.deepEqual(res._shards, { total: 1, successful: 1, skipped: 0, failed: 0 });
  assert.deepEqual(res.hits.total, { value: 1, relation: 'eq' });
  assert.deepEqual(Object.keys(res.hits), ['total', 'max_score', 'hits']);

  await rejectsWith(groups.search(bob, undefined), 400, 'parse_exception', 'request body or source parameter is required');
  await rejectsWith(groups.search(bob, { query: { fuzzy: { name: 'x' } } }), 400, 'illegal_argument_exception', /\[fuzzy\]/);
  await rejectsWith(groups.search(bob, { query: { frobnicate: {} } }), 400, 'parsing_exception', 'unknown query [frobnicate]');
});

test('update: rules per role and every message (§5)', async (t) => {
  const { groups, ids } = await story(t);
  const ia = 'illegal_argument_exception';
  await rejectsWith(groups.update(alice, ids.pub, undefined), 400, 'parse_exception', 'Model group request has empty body');
  await rejectsWith(
    groups.update(alice, ids.pub, { name: 'bad*' }),
    400,
    'action_request_validation_exception',
    `Validation Failed: 1: Model group name can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/");`,
  );
  await rejectsWith(groups.update(alice, 'nope', { name: 'x' }), 404, 'status_exception', 'Failed to find model group with the provided model group id: nope');

  // non-owner with visibility: name/description only
  assert.deepEqual(await groups.update(bob, ids.pub, { name: 'public renamed', description: 'by bob' }), { status: 'Updated' });
  const renamed = await groups.get(bob, ids.pub);
  assert.deepEqual([renamed.name, renamed.description, renamed.owner!.name], ['public renamed', 'by bob', 'alice']);
  assert.ok(renamed.last_updated_time > renamed.created_time);
  await rejectsWith(groups.update(bob, ids.pub, { access_mode: 'private' }), 400, ia, 'Only owner or admin can update access control data.');
  await rejectsWith(groups.update(carol, ids.restr, { backend_roles: ['analyst'] }), 400, ia, 'Only owner or admin can update access control data.');
  assert.deepEqual(await groups.update(carol, ids.restr, { description: 'carol shares the role' }), { status: 'Updated' });
  // others: nothing
  await rejectsWith(groups.update(bob, ids.priv, { name: 'mine now' }), 400, ia, "You don't have permission to update this model group.");
  await rejectsWith(groups.update(bob, ids.restr, { description: 'x' }), 400, ia, "You don't have permission to update this model group.");
  // name clash on update (sic: "another model", no final period)
  await rejectsWith(
    groups.update(alice, ids.priv, { name: 'hr group' }),
    400,
    ia,
    `The name you provided is already being used by another model with ID: ${ids.hr}. Please provide a different name`,
  );
  // owner changes access
  await groups.update(alice, ids.priv, { access_mode: 'restricted', backend_roles: ['analyst'] });
  assert.deepEqual(await groups.get(carol, ids.priv).then((g) => [g.access, g.backend_roles]), ['restricted', ['analyst']]);
  await rejectsWith(groups.update(alice, ids.priv, { access_mode: 'public', backend_roles: ['analyst'] }), 400, ia, 'You can specify backend roles only for a model group with the restricted access mode.');
  await rejectsWith(groups.update(alice, ids.priv, { add_all_backend_roles: false }), 400, ia, 'You have to specify backend roles when add all backend roles is set to false.');
  await rejectsWith(groups.update(alice, ids.priv, { backend_roles: ['analyst'], add_all_backend_roles: true }), 400, ia, 'You cannot specify backend roles and add all backend roles at the same time.');
  await rejectsWith(groups.update(alice, ids.priv, { access_mode: 'restricted' }), 400, ia, 'You must specify one or more backend roles or add all backend roles to register a restricted model group.');
  await rejectsWith(groups.update(alice, ids.priv, { backend_roles: ['human-resources'] }), 400, ia, "You don't have the backend roles specified.");
  await rejectsWith(groups.update(alice, ids.priv, { backend_roles: [] }), 400, ia, 'You must specify one or more backend roles or add all backend roles to register a restricted model group.');
  await rejectsWith(groups.update(user('alice', []), ids.pub, { add_all_backend_roles: true }), 400, ia, "You don't have any backend roles.");
  await rejectsWith(groups.update(admin, ids.pub, { add_all_backend_roles: true }), 400, ia, 'Admin users cannot add all backend roles to a model group.');
  // the owner who lost the group's role
  await rejectsWith(
    groups.update(user('alice', ['other']), ids.restr, { name: 'x' }),
    400,
    ia,
    "You don't have the specified backend role to update this model group. For more information, contact your administrator.",
  );
  // admin may change anything, including someone else's access fields
  await groups.update(admin, ids.hr, { access_mode: 'public' });
  const hr = await groups.get(alice, ids.hr);
  assert.deepEqual([hr.access, hr.backend_roles, hr.owner!.name], ['public', undefined, 'bob']);
  // back to private clears roles
  await groups.update(alice, ids.priv, { access_mode: 'private' });
  assert.equal((await groups.get(alice, ids.priv)).backend_roles, undefined);
  await rejectsWith(groups.get(carol, ids.priv), 403, 'status_exception', /privilege/);

  const empty = await setup(t, { enabled: true });
  await rejectsWith(empty.groups.update(alice, 'nope', { name: 'x' }), 404, 'status_exception', 'Failed to find model group');
});

test('delete: rules, 403/404/409 and the document-delete response (§8)', async (t) => {
  const { groups, ids } = await story(t);
  await rejectsWith(groups.delete(bob, ids.priv), 403, 'status_exception', "User doesn't have privilege to delete this model group");
  await rejectsWith(groups.delete(bob, ids.restr), 403, 'status_exception', "User doesn't have privilege to delete this model group");
  await rejectsWith(groups.delete(bob, 'nope'), 404, 'status_exception', 'Fail to find model group');

  const counts = new Map([[ids.restr, 2]]);
  groups.setModelCounter((id) => counts.get(id) ?? 0);
  await rejectsWith(groups.delete(carol, ids.restr), 409, 'status_exception', 'Cannot delete the model group when it has associated model versions');
  await rejectsWith(groups.delete(admin, ids.restr), 409, 'status_exception', 'Cannot delete the model group when it has associated model versions');

  const res = await groups.delete(bob, ids.pub);
  assert.deepEqual(Object.keys(res), ['_index', '_id', '_version', 'result', '_shards', '_seq_no', '_primary_term']);
  assert.equal(res.result, 'deleted');
  assert.equal(res._version, 2);
  assert.deepEqual(res._shards, { total: 2, successful: 1, failed: 0 });
  await rejectsWith(groups.get(alice, ids.pub), 404, 'status_exception', /Failed to find model group with the provided/);

  // restricted: anyone sharing a role, including a non-owner
  assert.equal((await groups.delete(carol, ids.restrAll)).result, 'deleted');
  // admin: no existence check, missing id → 200 not_found
  const missing = await groups.delete(admin, 'nope');
  assert.deepEqual([missing.result, missing._version], ['not_found', 1]);
  assert.equal((await groups.delete(alice, ids.priv)).result, 'deleted');

  const empty = await setup(t, { enabled: true });
  await rejectsWith(empty.groups.delete(admin, 'nope'), 404, 'status_exception', 'Failed to find model group');
});

test('disabled mode and security off: everything public, access fields refused (§11)', async (t) => {
  const { groups, store } = await setup(t, { enabled: false });
  const disabled = 'You cannot specify model access control parameters because the Security plugin or model access control is disabled on your cluster.';
  for (const body of [{ access_mode: 'private' }, { add_all_backend_roles: false }, { backend_roles: ['analyst'] }]) {
    await rejectsWith(groups.register(alice, { name: 'x', ...body }), 400, 'illegal_argument_exception', disabled);
  }
  const id = (await groups.register(alice, { name: 'legacy', backend_roles: [] })).model_group_id;
  const legacy = await groups.get(bob, id);
  assert.deepEqual(Object.keys(legacy), ['name', 'latest_version', 'access', 'created_time', 'last_updated_time'], 'no owner, no roles');
  assert.equal(legacy.access, 'public');
  await rejectsWith(groups.update(bob, id, { access_mode: 'private' }), 400, 'illegal_argument_exception', disabled);
  await rejectsWith(groups.update(bob, id, { backend_roles: [] }), 400, 'illegal_argument_exception', disabled);
  assert.deepEqual(await groups.update(bob, id, { name: 'renamed by bob' }), { status: 'Updated' });
  assert.equal(groups.isAccessControlActive(alice), false);

  // Enabling later: alice's new private group is enforced; the legacy group stays public.
  await groups.putClusterSettings({ transient: { [ACCESS_CONTROL_SETTING]: 'true' } });
  assert.equal(groups.isAccessControlActive(alice), true);
  assert.equal(groups.isAccessControlActive(NO_PRINCIPAL), false, 'no user ⇒ inactive');
  const priv = (await groups.register(alice, { name: 'secret' })).model_group_id;
  await rejectsWith(groups.get(bob, priv), 403, 'status_exception', /privilege/);
  assert.equal((await groups.get(bob, id)).name, 'renamed by bob');
  assert.deepEqual(hitIds(await groups.search(bob, { query: { match_all: {} } })), [id]);
  // security off (principal none): no checks, new groups public
  assert.equal((await groups.get(NO_PRINCIPAL, priv)).access, 'private');
  assert.equal((await groups.search(NO_PRINCIPAL, { query: { match_all: {} } })).hits.total!.value, 2);
  await rejectsWith(groups.register(NO_PRINCIPAL, { name: 'y', access_mode: 'public' }), 400, 'illegal_argument_exception', disabled);
  // ...and turning it off again stops enforcing without touching stored fields
  await groups.putClusterSettings({ transient: { [ACCESS_CONTROL_SETTING]: false } });
  const seen = await groups.get(bob, priv);
  assert.deepEqual([seen.access, seen.owner!.name], ['private', 'alice']);
  assert.equal((await store.getGroup(priv))!.doc.access, 'private');
});

test('ML roles: no role → 403 security_exception; readonly may only read (§1)', async (t) => {
  const { groups, ids } = await story(t);
  const nobody = user('eve', ['analyst'], []);
  await rejectsWith(
    groups.register(nobody, { name: 'z' }),
    403,
    'security_exception',
    'no permissions for [cluster:admin/opensearch/ml/register_model_group] and User [name=eve, backend_roles=[analyst], requestedTenant=null]',
  );
  await rejectsWith(groups.search(nobody, {}), 403, 'security_exception', /model_groups\/search/);
  await rejectsWith(groups.get(nobody, ids.pub), 403, 'security_exception', /model_groups\/get/);
  const reader = user('rita', ['analyst'], ['ml_readonly_access']);
  assert.equal((await groups.get(reader, ids.restr)).name, 'restricted roles');
  assert.equal((await groups.search(reader, {})).hits.total!.value, 3);
  await rejectsWith(groups.update(reader, ids.pub, { name: 'x' }), 403, 'security_exception', /update_model_group/);
  await rejectsWith(groups.delete(reader, ids.pub), 403, 'security_exception', /model_groups\/delete/);
});

test('cluster settings: persistent survives a restart, transient does not; validation', async (t) => {
  const store = openSqliteStore(':memory:', silentLogger());
  t.after(() => store.close());
  const first = await setup(t, { store, enabled: false });
  let res = await first.groups.putClusterSettings({ persistent: { plugins: { ml_commons: { model_access_control_enabled: 'true' } } } });
  assert.deepEqual(res, { acknowledged: true, persistent: { plugins: { ml_commons: { model_access_control_enabled: 'true' } } }, transient: {} });
  res = await first.groups.putClusterSettings({ transient: { [ACCESS_CONTROL_SETTING]: false } }, { flat: true });
  assert.deepEqual(res, { acknowledged: true, persistent: {}, transient: { [ACCESS_CONTROL_SETTING]: 'false' } });
  assert.equal(first.groups.accessControlEnabled(), false, 'transient wins over persistent');
  assert.deepEqual(await first.groups.getClusterSettings({ flat: true }), {
    persistent: { [ACCESS_CONTROL_SETTING]: 'true' },
    transient: { [ACCESS_CONTROL_SETTING]: 'false' },
  });
  assert.deepEqual(await first.groups.getClusterSettings({ includeDefaults: true }), {
    persistent: { plugins: { ml_commons: { model_access_control_enabled: 'true' } } },
    transient: { plugins: { ml_commons: { model_access_control_enabled: 'false' } } },
    defaults: { plugins: { ml_commons: { model_access_control_enabled: 'false' } } },
  });

  // "restart": a new service on the same store
  const second = await setup(t, { store, enabled: false });
  assert.equal(second.groups.accessControlEnabled(), true, 'persistent overrides the config at start');
  assert.deepEqual((await second.groups.getClusterSettings()).transient, {});
  // another replica's persistent change is seen on its next call
  await first.groups.putClusterSettings({ persistent: { [ACCESS_CONTROL_SETTING]: null } });
  await second.groups.getClusterSettings();
  assert.equal(second.groups.accessControlEnabled(), false, 'null resets to the config value');

  await rejectsWith(second.groups.putClusterSettings({ persistent: { 'foo.bar': 'x' } }), 400, 'illegal_argument_exception', 'persistent setting [foo.bar], not recognized');
  await rejectsWith(
    second.groups.putClusterSettings({ transient: { [ACCESS_CONTROL_SETTING]: 'yes' } }),
    400,
    'illegal_argument_exception',
    'Failed to parse value [yes] as only [true] or [false] are allowed.',
  );
  await rejectsWith(second.groups.putClusterSettings({}), 400, 'action_request_validation_exception', 'Validation Failed: 1: no settings to update;');
  await rejectsWith(second.groups.putClusterSettings(undefined), 400, 'parse_exception', /body/);
});

test('model versions: reserve, commit, release and the group lifecycle (§10)', async (t) => {
  const { groups, store, ids } = await story(t);
  // Auto-created private group named after the model, owned by the caller.
  const r1 = await groups.reserveModelVersion(alice, { modelName: 'mlp', description: 'tiny mlp' });
  assert.deepEqual([r1.groupVersion, r1.createdGroup], [1, true]);
  await r1.commit();
  await r1.release(); // no effect after commit
  let g = (await store.getGroup(r1.groupId))!;
  assert.deepEqual([g.doc.name, g.doc.access, g.doc.description, g.doc.latest_version, g.doc.owner!.name], ['mlp', 'private', 'tiny mlp', 1, 'alice']);

  // Same name again: reused, version 2; a failed registration sets latest_version back.
  const r2 = await groups.reserveModelVersion(alice, { modelName: 'mlp' });
  assert.deepEqual([r2.groupId, r2.groupVersion, r2.createdGroup], [r1.groupId, 2, false]);
  await r2.release();
  assert.equal((await store.getGroup(r1.groupId))!.doc.latest_version, 1);
  const r3 = await groups.reserveModelVersion(alice, { modelName: 'mlp', existingGroupId: r1.groupId });
  assert.equal(r3.groupVersion, 2);
  await r3.commit();

  // A failed registration that created its group removes the group.
  const r4 = await groups.reserveModelVersion(alice, { modelName: 'resnet', accessMode: 'restricted', addAllBackendRoles: true });
  g = (await store.getGroup(r4.groupId))!;
  assert.deepEqual([g.doc.access, g.doc.backend_roles], ['restricted', ['analyst']]);
  await r4.release();
  assert.equal(await store.getGroup(r4.groupId), undefined);

  // Into an explicit group: access required.
  const r5 = await groups.reserveModelVersion(bob, { modelName: 'add', modelGroupId: ids.pub });
  assert.equal(r5.groupVersion, 1);
  await rejectsWith(
    groups.reserveModelVersion(bob, { modelName: 'add', modelGroupId: ids.priv }),
    400,
    'illegal_argument_exception',
    "You don't have permissions to perform this operation on this model.",
  );
  await rejectsWith(groups.reserveModelVersion(bob, { modelName: 'add', modelGroupId: 'missing' }), 404, 'status_exception', /missing/);
  await rejectsWith(
    groups.reserveModelVersion(bob, { modelName: 'mlp' }),
    400,
    'illegal_argument_exception',
    `The name {mlp} you provided is unavailable because it is used by another model group with id {${r1.groupId}} to which you do not have access. Please provide a different name.`,
  );
  await rejectsWith(
    groups.reserveModelVersion(alice, { modelName: 'x', modelGroupId: ids.pub, existingGroupId: ids.priv }),
    400,
    'illegal_argument_exception',
    /belong to model group/,
  );
  await rejectsWith(groups.reserveModelVersion(dave, { modelName: 'y', accessMode: 'restricted', backendRoles: ['x'] }), 400, 'illegal_argument_exception', /at least one backend role/);

  // Concurrent registrations get distinct versions.
  const many = await Promise.all(Array.from({ length: 8 }, () => groups.reserveModelVersion(alice, { modelName: 'mlp' })));
  assert.deepEqual(many.map((r) => r.groupVersion).sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9, 10]);
  const lastUpdated = (await store.getGroup(r1.groupId))!.doc.last_updated_time;
  assert.ok(lastUpdated > (await store.getGroup(r1.groupId))!.doc.created_time);

  // canAccessModel / modelAccessFilter
  assert.equal(await groups.canAccessModel(bob, undefined), true);
  assert.equal(await groups.canAccessModel(bob, r1.groupId), false);
  assert.equal(await groups.canAccessModel(carol, ids.restr), true);
  assert.equal(await groups.canAccessModel(admin, r1.groupId), true);
  assert.equal(await groups.canAccessModel(NO_PRINCIPAL, r1.groupId), true);
  assert.equal(await groups.canAccessModel(bob, 'gone'), false);
  const visible = await groups.modelAccessFilter(bob);
  assert.deepEqual([visible(undefined), visible(ids.pub), visible(r1.groupId), visible(ids.hr)], [true, true, false, true]);

  // The last version leaving deletes the group.
  await groups.modelVersionRemoved(r1.groupId, 3);
  assert.ok(await store.getGroup(r1.groupId));
  await groups.modelVersionRemoved(r1.groupId, 0);
  assert.equal(await store.getGroup(r1.groupId), undefined);
  await groups.modelVersionRemoved(r1.groupId, 0); // already gone: no error

  // Disabled: auto-created groups are public and access fields are refused.
  await groups.putClusterSettings({ transient: { [ACCESS_CONTROL_SETTING]: 'false' } });
  const r6 = await groups.reserveModelVersion(bob, { modelName: 'open-model' });
  assert.deepEqual([(await store.getGroup(r6.groupId))!.doc.access, (await store.getGroup(r6.groupId))!.doc.owner], ['public', undefined]);
  await rejectsWith(groups.reserveModelVersion(bob, { modelName: 'z', accessMode: 'private' }), 400, 'illegal_argument_exception', /disabled on your cluster/);
  assert.ok((await groups.reserveModelVersion(bob, { modelName: 'q', modelGroupId: ids.priv })).groupVersion >= 1, 'no checks while disabled');
});

test('newGroupId: 20 URL-safe characters starting with a letter or digit', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const id = newGroupId();
    assert.match(id, /^[A-Za-z0-9][A-Za-z0-9_-]{19}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 500);
});

test('restoreModelVersion: re-attaches a restored version without touching latest_version; a missing group is 404', async (t) => {
  const { groups, store } = await setup(t, { enabled: true });
  const r1 = await groups.reserveModelVersion(alice, { modelName: 'm', accessMode: 'private' });
  await r1.commit();
  const r2 = await groups.reserveModelVersion(alice, { modelName: 'm', existingGroupId: r1.groupId });
  await r2.commit();
  const before = (await store.getGroup(r1.groupId))!;
  assert.equal(before.doc.latest_version, 2);

  for (let restart = 0; restart < 3; restart++) {
    const restored = await groups.restoreModelVersion(r1.groupId);
    assert.deepEqual([restored.groupId, restored.groupVersion, restored.createdGroup], [r1.groupId, 2, false]);
    await restored.commit();
    await restored.release();
  }
  const after = (await store.getGroup(r1.groupId))!;
  assert.deepEqual(after.doc, before.doc, 'latest_version and last_updated_time unchanged');
  assert.equal(after.seqNo, before.seqNo, 'no write at all');
  assert.equal(await groups.canAccessModel(bob, r1.groupId), false, 'the group keeps its access rules');

  await rejectsWith(groups.restoreModelVersion('gone'), 404, 'status_exception', 'Failed to find model group with the provided model group id: gone');
});
