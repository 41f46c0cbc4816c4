/**
 * Issue #7 "Done when", black-box against the real CLI (token authorization on, the admin holds the
 * management key): the seed's whole story over HTTP. The admin creates alice (analyst) and bob
 * (human-resources), maps them to ml_full_access and turns access control on; alice registers
 * public, private and restricted groups (both restricted forms) and models into them; bob sees and
 * uses exactly what the rules allow; every validation error with its message and status; update
 * and delete rules per role; ML roles; bad credentials; disabled mode.
 *
 * One server for the file: the steps are one story and each builds on the state before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkspace, startBackground } from '../helpers/tsserve.js';
import {
  ACCESS_SETTING,
  assertIllegal,
  assertOpenSearchError,
  assertStatus,
  clients,
  createUsers,
  predictAdd,
  registerGroup,
  searchIds,
  sorted,
  writeAddArchive,
  type Json,
} from './groups-client.js';

const GROUPS = '/_plugins/_ml/model_groups';
const DISABLED_MESSAGE =
  'You cannot specify model access control parameters because the Security plugin or model access control is disabled on your cluster.';
const UNSAFE_NAME = `Model group name can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/")`;
const UNSAFE_DESCRIPTION = `Model group description can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/")`;

test('model groups and access control: the seed\'s story over HTTP', { timeout: 90_000 }, async (t) => {
  const ws = makeWorkspace(t);
  await writeAddArchive(ws, 'add.mar', '1.0');
  await writeAddArchive(ws, 'add-v2.mar', '2.0');
  const server = await startBackground(t, ws, ['--enable-model-api']);
  const { admin, adminInference, as, inferenceAs, anonymous } = clients(ws, server);
  const alice = as('alice');
  const bob = as('bob');
  const bobInference = inferenceAs('bob');
  const aliceInference = inferenceAs('alice');
  const ids: Record<string, string> = {};

  await t.test('the admin creates users, maps roles and turns access control on', async () => {
    await createUsers(
      admin,
      { alice: ['analyst'], bob: ['human-resources'], dave: [], eve: ['analyst'], rita: ['human-resources'] },
      { ml_full_access: ['alice', 'bob', 'dave'], ml_readonly_access: ['rita'] },
    );
    const got = await admin('GET', '/_plugins/_security/api/internalusers/alice');
    assertStatus(got, 200);
    assert.deepEqual(got.body.alice.backend_roles, ['analyst']);
    assert.equal(got.body.alice.hash, '', 'never the password or its hash');
    assert.ok(!got.text.includes('alice-password'));
    assert.deepEqual((await admin('GET', '/_plugins/_security/api/rolesmapping/ml_full_access')).body.ml_full_access.users, ['alice', 'bob', 'dave']);

    // Only admins use the security and settings APIs.
    const denied = await alice('PUT', '/_plugins/_security/api/internalusers/mallory', { password: 'mallory-password' });
    assertOpenSearchError(denied, 403, 'security_exception', /^no permissions for \[restapi:admin\/internalusers\] and User \[name=alice, backend_roles=\[analyst\]/);
    assertStatus(await alice('PUT', '/_cluster/settings', { persistent: { [ACCESS_SETTING]: 'false' } }), 403);

    const on = await admin('PUT', '/_cluster/settings', { persistent: { [ACCESS_SETTING]: 'true' } });
    assertStatus(on, 200);
    assert.deepEqual(on.body, { acknowledged: true, persistent: { plugins: { ml_commons: { model_access_control_enabled: 'true' } } }, transient: {} });
  });

  await t.test('alice registers public, private and restricted groups (both restricted forms)', async () => {
    ids.pub = await registerGroup(alice, { name: 'alice public', description: 'open to all', access_mode: 'public' });
    ids.priv = await registerGroup(alice, { name: 'alice private' });
    ids.restr = await registerGroup(alice, { name: 'alice analysts', access_mode: 'restricted', backend_roles: ['analyst'] });
    ids.all = await registerGroup(alice, { name: 'alice all roles', add_all_backend_roles: true });
    ids.hr = await registerGroup(bob, { name: 'bob hr', access_mode: 'restricted', backend_roles: ['human-resources'] });

    const owner = { name: 'alice', backend_roles: ['analyst'], roles: ['ml_full_access'], custom_attribute_names: [], user_requested_tenant: null };
    const priv = await alice('GET', `${GROUPS}/${ids.priv}`);
    assertStatus(priv, 200);
    assert.deepEqual(Object.keys(priv.body), ['name', 'latest_version', 'owner', 'access', 'created_time', 'last_updated_time'], 'OpenSearch field order, default private');
    assert.deepEqual({ ...priv.body, created_time: 0, last_updated_time: 0 }, { name: 'alice private', latest_version: 0, owner, access: 'private', created_time: 0, last_updated_time: 0 });
    assert.equal(typeof priv.body.created_time, 'number');

    const all = (await alice('GET', `${GROUPS}/${ids.all}`)).body;
    assert.deepEqual([all.access, all.backend_roles], ['restricted', ['analyst']], 'add_all_backend_roles copies her roles');
    const restr = (await alice('GET', `${GROUPS}/${ids.restr}`)).body;
    assert.deepEqual([restr.access, restr.backend_roles, restr.owner.name], ['restricted', ['analyst'], 'alice']);
    const pub = (await alice('GET', `${GROUPS}/${ids.pub}`)).body;
    assert.deepEqual([pub.access, pub.description], ['public', 'open to all']);
  });

  await t.test('alice registers models into her groups; latest_version counts registrations', async () => {
    const register = async (query: string) => {
      const res = await alice('POST', `/models?${query}`);
      assertStatus(res, 200, query);
      return res;
    };
    await register(`url=add.mar&model_name=pub_model&model_group_id=${ids.pub}&initial_workers=1`);
    await register(`url=add-v2.mar&model_name=pub_model&initial_workers=0`);
    await register(`url=add.mar&model_name=priv_model&model_group_id=${ids.priv}&initial_workers=1`);
    await register(`url=add.mar&model_name=restr_model&model_group_id=${ids.restr}&initial_workers=0`);
    await register(`url=add.mar&model_name=all_model&model_group_id=${ids.all}&initial_workers=0`);
    // Without model_group_id: a private group named after the model is created for her.
    await register('url=add.mar&model_name=auto_model&initial_workers=0');

    assert.equal((await alice('GET', `${GROUPS}/${ids.pub}`)).body.latest_version, 2, 'both versions of pub_model');
    assert.equal((await alice('GET', `${GROUPS}/${ids.priv}`)).body.latest_version, 1);
    const described = await alice('GET', '/models/pub_model/all');
    assert.deepEqual(described.body.map((d: Json) => [d.modelVersion, d.modelGroupId]), [['1.0', ids.pub], ['2.0', ids.pub]]);

    const auto = await alice('POST', `${GROUPS}/_search`, { query: { term: { 'name.keyword': 'auto_model' } } });
    assert.equal(auto.body.hits.hits.length, 1);
    ids.auto = auto.body.hits.hits[0]._id;
    assert.deepEqual([auto.body.hits.hits[0]._source.access, auto.body.hits.hits[0]._source.owner.name, auto.body.hits.hits[0]._source.latest_version], ['private', 'alice', 1]);
    assert.equal((await alice('GET', '/models/auto_model')).body[0].modelGroupId, ids.auto);

    const own = await predictAdd(aliceInference, '/predictions/priv_model');
    assert.deepEqual(own.values, [2, 3, 4, 5], 'alice uses her private model');
  });

  await t.test('bob sees and uses exactly what the rules allow', async () => {
    const aliceIds = [ids.pub, ids.priv, ids.restr, ids.all, ids.auto];
    // Search visibility: match_all, nested owner.name.keyword term, _id terms.
    assert.deepEqual(await searchIds(bob, { match_all: {} }), sorted([ids.pub, ids.hr]));
    assert.deepEqual(await searchIds(bob, { nested: { path: 'owner', query: { term: { 'owner.name.keyword': 'alice' } } } }), [ids.pub]);
    assert.deepEqual(await searchIds(bob, { terms: { _id: aliceIds } }), [ids.pub]);
    assert.deepEqual(await searchIds(alice, { match_all: {} }), sorted(aliceIds), 'alice: hers, not bob\'s restricted group');
    assert.deepEqual(await searchIds(alice, { nested: { path: 'owner', query: { term: { 'owner.name.keyword': 'alice' } } } }), sorted(aliceIds));
    assert.deepEqual(await searchIds(admin, { match_all: {} }), sorted([...aliceIds, ids.hr]), 'the admin sees everything');

    const search = await bob('POST', `${GROUPS}/_search`, { query: { match_all: {} } });
    assert.equal(search.body.hits.total.value, 2);
    const hit = search.body.hits.hits.find((h: Json) => h._id === ids.pub);
    assert.deepEqual(Object.keys(hit), ['_index', '_id', '_version', '_seq_no', '_primary_term', '_score', '_source']);
    assert.equal(hit._index, '.plugins-ml-model-group');
    // GET with a body, as OpenSearch clients send it.
    const viaGet = await bob('GET', `${GROUPS}/_search`, { query: { match_all: {} } });
    assert.equal(viaGet.body?.hits?.total?.value, 2, viaGet.text);

    assertStatus(await bob('GET', `${GROUPS}/${ids.pub}`), 200);
    for (const id of [ids.priv, ids.restr, ids.all, ids.auto]) {
      assertOpenSearchError(await bob('GET', `${GROUPS}/${id}`), 403, 'status_exception', "User doesn't have privilege to perform this operation on this model group");
    }

    // Models: the list is filtered, a hidden model answers exactly like a missing one.
    assert.deepEqual((await bob('GET', '/models')).body, { models: [{ modelName: 'pub_model', modelUrl: 'add.mar' }] });
    assert.deepEqual((await alice('GET', '/models')).body.models.map((m: Json) => m.modelName), ['all_model', 'auto_model', 'priv_model', 'pub_model', 'restr_model']);
    for (const hidden of ['priv_model', 'restr_model', 'all_model', 'auto_model']) {
      const missing = 'no_such_model';
      for (const [method, url] of [['GET', '/models/%s'], ['GET', '/models/%s/all'], ['GET', '/models/%s/1.0'], ['GET', '/models/%s/9.9'], ['PUT', '/models/%s?min_worker=0'], ['PUT', '/models/%s/1.0/set-default'], ['DELETE', '/models/%s/1.0'], ['OPTIONS', '/models/%s'], ['GET', '/v1/models/%s']] as const) {
        const a = await bob(method, url.replace('%s', hidden));
        const b = await bob(method, url.replace('%s', missing));
        assertStatus(a, 404, `${method} ${url} ${hidden}`);
        assert.deepEqual(a.body, { ...b.body, message: b.body.message.replace(missing, hidden) }, `${method} ${url}`);
        assert.equal(a.body.type, 'ModelNotFoundException');
      }
    }
    const hiddenPredict = await predictAdd(bobInference, '/predictions/priv_model');
    const missingPredict = await predictAdd(bobInference, '/predictions/no_such_model');
    assertStatus(hiddenPredict, 404);
    assert.deepEqual(hiddenPredict.body, { ...missingPredict.body, message: 'Model not found: priv_model' });
    assertStatus(await predictAdd(bobInference, '/predictions/priv_model/1.0'), 404);
    assertStatus(await predictAdd(bobInference, '/v1/models/priv_model:predict'), 404);
    const v2 = await bobInference('POST', '/v2/models/priv_model/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.deepEqual([v2.status, v2.body], [404, { error: 'Model with name priv_model does not exist.' }]);
    assert.deepEqual((await bobInference('GET', '/v2/models')).body, { models: ['pub_model'] });

    // What bob may use, he uses.
    assert.deepEqual((await predictAdd(bobInference, '/predictions/pub_model')).values, [2, 3, 4, 5]);
    assert.equal((await bob('GET', '/models/pub_model')).status, 200);

    // He cannot put a model into alice's private group, and nothing changes when he tries.
    const into = await bob('POST', `/models?url=add.mar&model_name=bob_model&model_group_id=${ids.priv}&initial_workers=0`);
    assertIllegal(into, "You don't have permissions to perform this operation on this model.");
    assert.equal((await alice('GET', `${GROUPS}/${ids.priv}`)).body.latest_version, 1, 'latest_version unchanged');
    assertStatus(await admin('GET', '/models/bob_model'), 404);
    // A version of alice's hidden model is refused the same way (all versions share one group).
    assertStatus(await bob('POST', '/models?url=add-v2.mar&model_name=priv_model&initial_workers=0'), 400);
    assert.equal((await admin('GET', '/models/priv_model/all')).body.length, 1);
  });

  await t.test('every register validation error with its message and status', async () => {
    const before = await searchIds(admin, { match_all: {} });
    const reg = (call: typeof alice, body: unknown) => call('POST', `${GROUPS}/_register`, body);
    assertIllegal(await reg(alice, { name: 'alice public' }), `The name you provided is already being used by a model group with ID: ${ids.pub}.`);
    assertIllegal(await reg(bob, { name: 'alice private' }), `The name you provided is already being used by a model group with ID: ${ids.priv}.`, 'names are unique across owners');
    assertIllegal(await reg(alice, { name: 'r1', access_mode: 'restricted' }), 'You must specify one or more backend roles or add all backend roles to register a restricted model group.');
    assertIllegal(await reg(alice, { name: 'r2', access_mode: 'public', backend_roles: ['analyst'] }), 'You can specify backend roles only for a model group with the restricted access mode.');
    assertIllegal(await reg(alice, { name: 'r3', access_mode: 'private', add_all_backend_roles: true }), 'You can specify backend roles only for a model group with the restricted access mode.');
    assertIllegal(await reg(admin, { name: 'r4', access_mode: 'restricted', add_all_backend_roles: true }), 'Admin users cannot add all backend roles to a model group.');
    assertIllegal(await reg(alice, { name: 'r5', backend_roles: ['human-resources'] }), "You don't have the backend roles specified.");
    assertIllegal(await reg(alice, { name: 'r6', backend_roles: ['analyst'], add_all_backend_roles: true }), 'You cannot specify backend roles and add all backend roles at the same time.');
    assertIllegal(await reg(as('dave'), { name: 'r7', access_mode: 'restricted', backend_roles: ['x'] }), 'You must have at least one backend role to register a restricted model group.');
    assertOpenSearchError(await reg(alice, { name: '  ' }), 400, 'action_request_validation_exception', 'Validation Failed: 1: Model group name is required and cannot be null or blank;');
    assertOpenSearchError(await reg(alice, { name: 'bad<name>', description: 'bad{description}' }), 400, 'action_request_validation_exception', `Validation Failed: 1: ${UNSAFE_NAME};2: ${UNSAFE_DESCRIPTION};`);
    // Deviation (docs/compatibility.md): OpenSearch answers 500 null_pointer_exception.
    assertIllegal(await reg(alice, { description: 'no name' }), 'model group name must not be null');
    assertOpenSearchError(await reg(alice, undefined), 400, 'parse_exception', 'Model group request has empty body');
    assertStatus(await reg(alice, '{"name": '), 400);
    assert.deepEqual(await searchIds(admin, { match_all: {} }), before, 'no group was created by a refused request');

    // Admins may assign any backend roles.
    ids.adminAny = await registerGroup(admin, { name: 'admin any roles', access_mode: 'restricted', backend_roles: ['anything'] });
    const doc = (await admin('GET', `${GROUPS}/${ids.adminAny}`)).body;
    assert.deepEqual([doc.backend_roles, doc.owner.name], [['anything'], 'admin']);
  });

  await t.test('update rules per role', async () => {
    const put = (call: typeof alice, id: string, body: unknown) => call('PUT', `${GROUPS}/${id}`, body);
    // A non-owner who can see a group may change name and description only.
    const renamed = await put(bob, ids.pub, { name: 'shared public', description: 'bob was here' });
    assert.deepEqual([renamed.status, renamed.body], [200, { status: 'Updated' }]);
    const pub = (await alice('GET', `${GROUPS}/${ids.pub}`)).body;
    assert.deepEqual([pub.name, pub.description, pub.owner.name, pub.latest_version], ['shared public', 'bob was here', 'alice', 2]);
    assert.ok(pub.last_updated_time >= pub.created_time);
    assertIllegal(await put(bob, ids.pub, { access_mode: 'private' }), 'Only owner or admin can update access control data.');
    assertIllegal(await put(bob, ids.pub, { backend_roles: [] }), 'Only owner or admin can update access control data.');
    assertIllegal(await put(bob, ids.priv, { description: 'x' }), "You don't have permission to update this model group.");
    assertIllegal(await put(bob, ids.restr, { name: 'x' }), "You don't have permission to update this model group.");
    // Owners are bound by the register rules.
    assertIllegal(await put(alice, ids.restr, { backend_roles: ['human-resources'] }), "You don't have the backend roles specified.");
    assertIllegal(await put(alice, ids.all, { add_all_backend_roles: false }), 'You have to specify backend roles when add all backend roles is set to false.');
    assertIllegal(await put(alice, ids.pub, { access_mode: 'public', backend_roles: ['analyst'] }), 'You can specify backend roles only for a model group with the restricted access mode.');
    assertIllegal(await put(admin, ids.all, { add_all_backend_roles: true }), 'Admin users cannot add all backend roles to a model group.');
    assertIllegal(await put(alice, ids.pub, { name: 'alice private' }), `The name you provided is already being used by another model with ID: ${ids.priv}. Please provide a different name`);
    assertOpenSearchError(await put(alice, 'no-such-group', { name: 'x' }), 404, 'status_exception', 'Failed to find model group with the provided model group id: no-such-group');
    assertOpenSearchError(await put(alice, ids.pub, undefined), 400, 'parse_exception', 'Model group request has empty body');

    // The owner opens her private group: bob sees it and its model; closing it hides them again.
    assertStatus(await put(alice, ids.priv, { access_mode: 'public' }), 200);
    assertStatus(await bob('GET', `${GROUPS}/${ids.priv}`), 200);
    assertStatus(await bob('GET', '/models/priv_model'), 200);
    assert.deepEqual((await predictAdd(bobInference, '/predictions/priv_model')).values, [2, 3, 4, 5]);
    assertStatus(await put(alice, ids.priv, { access_mode: 'private' }), 200);
    assertStatus(await bob('GET', '/models/priv_model'), 404);
    assert.deepEqual((await alice('GET', `${GROUPS}/${ids.priv}`)).body.backend_roles, undefined);

    // The admin changes anything; an owner who no longer shares a role loses her restricted group.
    assertStatus(await put(admin, ids.restr, { backend_roles: ['human-resources'] }), 200);
    assertStatus(await bob('GET', '/models/restr_model'), 200);
    assertOpenSearchError(await alice('GET', `${GROUPS}/${ids.restr}`), 403, 'status_exception', "User doesn't have privilege to perform this operation on this model group");
    assertStatus(await alice('GET', '/models/restr_model'), 404);
    assertIllegal(
      await put(alice, ids.restr, { name: 'mine again' }),
      "You don't have the specified backend role to update this model group. For more information, contact your administrator.",
    );
    assertStatus(await put(admin, ids.restr, { backend_roles: ['analyst'] }), 200);
    assertStatus(await alice('GET', '/models/restr_model'), 200);
    assertStatus(await bob('GET', '/models/restr_model'), 404);
  });

  await t.test('delete rules: access, 409 while models reference the group, the last version takes the group', async () => {
    const del = (call: typeof alice, id: string) => call('DELETE', `${GROUPS}/${id}`);
    assertOpenSearchError(await del(alice, ids.pub), 409, 'status_exception', 'Cannot delete the model group when it has associated model versions');
    // Deviations (docs/compatibility.md): OpenSearch answers 500 for both.
    assertOpenSearchError(await del(bob, ids.priv), 403, 'status_exception', "User doesn't have privilege to delete this model group");
    assertOpenSearchError(await del(bob, 'no-such-group'), 404, 'status_exception', 'Fail to find model group');
    const notFound = await del(admin, 'no-such-group');
    assert.deepEqual([notFound.status, notFound.body.result], [200, 'not_found']);

    const emptyPrivate = await registerGroup(alice, { name: 'alice empty private' });
    const emptyPublic = await registerGroup(alice, { name: 'alice empty public', access_mode: 'public' });
    assertOpenSearchError(await del(bob, emptyPrivate), 403, 'status_exception', "User doesn't have privilege to delete this model group");
    const deleted = await del(alice, emptyPrivate);
    assertStatus(deleted, 200);
    assert.deepEqual({ ...deleted.body, _version: 0, _seq_no: 0, _primary_term: 0 }, {
      _index: '.plugins-ml-model-group', _id: emptyPrivate, _version: 0, result: 'deleted',
      _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: 0, _primary_term: 0,
    });
    assert.equal((await del(bob, emptyPublic)).body.result, 'deleted', 'anyone may delete a public group');
    assertOpenSearchError(await alice('GET', `${GROUPS}/${emptyPrivate}`), 404, 'status_exception', `Failed to find model group with the provided model group id: ${emptyPrivate}`);

    // Unregistering versions: numbers are never reused; the last version takes the group with it.
    assertStatus(await bob('DELETE', '/models/priv_model'), 404, 'bob cannot delete what he cannot see');
    assertStatus(await alice('DELETE', '/models/pub_model/2.0'), 200);
    assert.equal((await alice('GET', `${GROUPS}/${ids.pub}`)).body.latest_version, 2, 'not decremented');
    assertStatus(await bob('DELETE', '/models/pub_model/1.0'), 200, 'bob may delete a model of a public group');
    assertOpenSearchError(await alice('GET', `${GROUPS}/${ids.pub}`), 404, 'status_exception', `Failed to find model group with the provided model group id: ${ids.pub}`);
    assertStatus(await alice('DELETE', '/models/restr_model'), 200);
    assertStatus(await alice('GET', `${GROUPS}/${ids.restr}`), 404);
    assert.ok(!(await searchIds(admin, { match_all: {} })).includes(ids.restr));
  });

  await t.test('ML roles and credentials: no role 403, readonly reads only, bad passwords 401', async () => {
    const eve = as('eve');
    assertOpenSearchError(
      await eve('POST', `${GROUPS}/_search`, { query: { match_all: {} } }),
      403, 'security_exception', 'no permissions for [cluster:admin/opensearch/ml/model_groups/search] and User [name=eve, backend_roles=[analyst], requestedTenant=null]',
    );
    assertOpenSearchError(await eve('POST', `${GROUPS}/_register`, { name: 'eve group' }), 403, 'security_exception', /^no permissions for \[cluster:admin\/opensearch\/ml\/register_model_group\]/);
    assertOpenSearchError(await eve('GET', `${GROUPS}/${ids.all}`), 403, 'security_exception', /model_groups\/get/);
    const denied = { code: 403, type: 'AccessDeniedException' };
    for (const [call, method, url] of [[eve, 'GET', '/models'], [eve, 'GET', '/models/all_model'], [eve, 'POST', '/models?url=add.mar&model_name=eve_model'], [inferenceAs('eve'), 'POST', '/predictions/priv_model']] as const) {
      const res = await call(method, url);
      assertStatus(res, 403, `${method} ${url}`);
      assert.deepEqual({ code: res.body.code, type: res.body.type }, denied, url);
      assert.match(res.body.message, /^no permissions for \[cluster:admin\/opensearch\/ml\/[a-z_/]+\] and User \[name=eve/);
    }

    const rita = as('rita');
    assert.deepEqual(await searchIds(rita, { match_all: {} }), [ids.hr], 'readonly searches with her own visibility');
    assertStatus(await rita('GET', '/models'), 200);
    assertOpenSearchError(await rita('POST', `${GROUPS}/_register`, { name: 'rita group' }), 403, 'security_exception', /register_model_group/);
    assert.equal((await rita('POST', '/models?url=add.mar&model_name=rita_model')).body.type, 'AccessDeniedException');
    const ritaPredict = await predictAdd(inferenceAs('rita'), '/predictions/all_model');
    assert.deepEqual([ritaPredict.status, ritaPredict.body.type], [403, 'AccessDeniedException'], 'ml_readonly_access has no predict');

    for (const call of [as('alice', 'wrong-password'), as('nobody', 'whatever-password'), inferenceAs('alice', 'wrong-password')]) {
      const res = await call('GET', '/models');
      assertStatus(res, 401);
      assert.deepEqual(res.body, { code: 401, type: 'AuthenticationException', message: 'Authentication failed: invalid user name or password' });
      assert.equal(res.headers['www-authenticate'], 'Basic realm="tsserve"');
    }
    const none = await anonymous('GET', `${GROUPS}/${ids.all}`);
    assert.deepEqual([none.status, none.body.type], [400, 'InvalidKeyException'], 'token authorization on: no credentials, no entry');
    assertStatus(await adminInference('GET', '/v2/models'), 200);
  });

  await t.test('disabled mode: access fields refused, new groups public, nothing enforced; enforcement returns', async () => {
    // A transient setting wins over the persistent one.
    assertStatus(await admin('PUT', '/_cluster/settings', { transient: { [ACCESS_SETTING]: 'false' } }), 200);
    const reg = (body: unknown) => alice('POST', `${GROUPS}/_register`, body);
    assertIllegal(await reg({ name: 'd1', access_mode: 'private' }), DISABLED_MESSAGE);
    assertIllegal(await reg({ name: 'd2', add_all_backend_roles: false }), DISABLED_MESSAGE);
    assertIllegal(await reg({ name: 'd3', backend_roles: ['analyst'] }), DISABLED_MESSAGE);
    assertIllegal(await alice('POST', '/models?url=add.mar&model_name=d4&access_mode=private&initial_workers=0'), DISABLED_MESSAGE);
    ids.open = await registerGroup(alice, { name: 'made while disabled' });
    assert.deepEqual(Object.keys((await alice('GET', `${GROUPS}/${ids.open}`)).body), ['name', 'latest_version', 'access', 'created_time', 'last_updated_time'], 'public, no owner');
    assert.equal((await alice('GET', `${GROUPS}/${ids.open}`)).body.access, 'public');

    // Nothing is enforced: bob sees alice's private group and model, and may rename it.
    assertStatus(await bob('GET', `${GROUPS}/${ids.priv}`), 200);
    assertStatus(await bob('GET', '/models/priv_model'), 200);
    assert.ok((await searchIds(bob, { match_all: {} })).includes(ids.priv));
    assertStatus(await bob('PUT', `${GROUPS}/${ids.priv}`, { description: 'seen while disabled' }), 200);
    assertIllegal(await bob('PUT', `${GROUPS}/${ids.priv}`, { access_mode: 'public' }), DISABLED_MESSAGE);
    assertIllegal(await bob('PUT', `${GROUPS}/${ids.priv}`, { backend_roles: [] }), DISABLED_MESSAGE);

    // Back on: stored rules apply again; a group made while disabled stays public.
    assertStatus(await admin('PUT', '/_cluster/settings', { transient: { [ACCESS_SETTING]: null } }), 200);
    assertStatus(await bob('GET', '/models/priv_model'), 404);
    assertStatus(await bob('GET', `${GROUPS}/${ids.priv}`), 403);
    assert.ok((await searchIds(bob, { match_all: {} })).includes(ids.open));
    assert.ok(!(await searchIds(bob, { match_all: {} })).includes(ids.priv));
    assert.equal((await alice('GET', `${GROUPS}/${ids.priv}`)).body.description, 'seen while disabled');
  });
});
