/** Internal users, scrypt passwords, role mappings and ML permissions (issue #7 "Identities"). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { keyHolder, NO_PRINCIPAL } from '../../../src/auth/principal.js';
import { AccessDeniedError } from '../../../src/errors.js';
import { SecurityApiError } from '../../../src/groups/errors.js';
import {
  Users,
  hashPassword,
  mlPermission,
  parseRoleMappingBody,
  parseUserBody,
  MODEL_ACTIONS,
  requireMlPermission,
  requireModelPermission,
  rolesFromMappings,
  verifyPassword,
} from '../../../src/groups/users.js';
import { silentLogger } from '../../../src/logger.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';

function setup(t: { after: (fn: () => Promise<void>) => void }, log = silentLogger()) {
  const store = openSqliteStore(':memory:', log);
  t.after(() => store.close());
  return { store, users: new Users({ store, log }) };
}

function badRequest(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof SecurityApiError && e.status === 400 && message.test(e.message));
}

test('scrypt hashes: salted, self-describing, verified in constant time', async () => {
  const h1 = await hashPassword('correct horse');
  const h2 = await hashPassword('correct horse');
  assert.match(h1, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(h1, h2, 'random salt');
  assert.equal(await verifyPassword('correct horse', h1), true);
  assert.equal(await verifyPassword('correct horsE', h1), false);
  assert.equal(await verifyPassword('x', 'bcrypt$whatever'), false);
  assert.equal(await verifyPassword('x', 'scrypt$0$8$1$AAAA$AAAA'), false);
});

test('request bodies are validated with the Security plugin messages', () => {
  assert.deepEqual(parseUserBody({ password: 'alice-password', backend_roles: ['analyst', 'analyst'], attributes: { team: 'risk' } }), {
    password: 'alice-password',
    backendRoles: ['analyst'],
    attributes: { team: 'risk' },
    description: '',
  });
  badRequest(() => parseUserBody(undefined), /Request body required/);
  badRequest(() => parseUserBody({ password: 'short' }), /at least 8 characters/);
  badRequest(() => parseUserBody({ password: 12345678 }), /'password' must be a string/);
  badRequest(() => parseUserBody({ hash: '$2y$12$abc' }), /'hash' is not supported/);
  badRequest(() => parseUserBody({ password: 'longenough', backend_roles: 'analyst' }), /'backend_roles' must be an array of strings/);
  badRequest(() => parseUserBody({ password: 'longenough', attributes: { a: 1 } }), /'attributes.a' must be a string/);
  assert.deepEqual(parseRoleMappingBody({ users: ['alice'], backend_roles: ['hr'], hosts: ['10.0.*'] }), {
    users: ['alice'],
    backendRoles: ['hr'],
    hosts: ['10.0.*'],
    description: '',
  });
  badRequest(() => parseRoleMappingBody({ users: 'alice' }), /'users' must be an array of strings/);
});

test('users: create, update keeps the password, views never show the hash, delete', async (t) => {
  const { users, store } = setup(t);
  assert.deepEqual(await users.putUser('alice', parseUserBody({ password: 'alice-password', backend_roles: ['analyst'] })), { created: true });
  const hash = (await store.getUser('alice'))!.passwordHash;
  assert.deepEqual(await users.putUser('alice', parseUserBody({ backend_roles: ['analyst', 'risk'], description: 'Alice' })), { created: false });
  assert.equal((await store.getUser('alice'))!.passwordHash, hash, 'password kept when omitted');
  assert.deepEqual(await users.getUser('alice'), {
    hash: '',
    reserved: false,
    hidden: false,
    backend_roles: ['analyst', 'risk'],
    attributes: {},
    opendistro_security_roles: [],
    static: false,
    description: 'Alice',
  });
  assert.deepEqual(Object.keys(await users.listUsers()), ['alice']);
  await assert.rejects(users.putUser('bob', parseUserBody({ backend_roles: [] })), (e: unknown) => e instanceof SecurityApiError && /'hash' or 'password'/.test(e.message));
  await assert.rejects(users.putUser('a:b', parseUserBody({ password: 'longenough' })), (e: unknown) => e instanceof SecurityApiError && e.status === 400);
  assert.equal(await users.deleteUser('alice'), true);
  assert.equal(await users.deleteUser('alice'), false);
  assert.equal(await users.getUser('alice'), undefined);
});

test('authenticateBasic: principals from role mappings (users, backend roles, hosts); all_access → admin', async (t) => {
  const { users } = setup(t);
  await users.putUser('alice', parseUserBody({ password: 'alice-password', backend_roles: ['analyst'] }));
  await users.putUser('bob', parseUserBody({ password: 'bob-password', backend_roles: ['human-resources'] }));
  await users.putUser('root', parseUserBody({ password: 'root-password' }));
  await users.putRoleMapping('ml_full_access', parseRoleMappingBody({ users: ['alice'], backend_roles: ['human-resources'] }));
  await users.putRoleMapping('all_access', parseRoleMappingBody({ users: ['root'] }));
  await users.putRoleMapping('ml_readonly_access', parseRoleMappingBody({ hosts: ['10.1.*'] }));

  assert.deepEqual(await users.authenticateBasic('alice', 'alice-password'), { kind: 'user', name: 'alice', backendRoles: ['analyst'], roles: ['ml_full_access'] });
  assert.deepEqual(await users.authenticateBasic('bob', 'bob-password'), { kind: 'user', name: 'bob', backendRoles: ['human-resources'], roles: ['ml_full_access'] });
  assert.deepEqual(await users.authenticateBasic('root', 'root-password'), { kind: 'admin', via: 'user', name: 'root', backendRoles: [], roles: ['all_access'] });
  assert.deepEqual(await users.authenticateBasic('alice', 'alice-password', '10.1.2.3'), {
    kind: 'user',
    name: 'alice',
    backendRoles: ['analyst'],
    roles: ['ml_full_access', 'ml_readonly_access'],
  });
  assert.equal(await users.authenticateBasic('alice', 'wrong-password'), undefined);
  assert.equal(await users.authenticateBasic('nobody', 'alice-password'), undefined);

  // Role changes apply to the next request; a password change invalidates the old one at once.
  await users.putRoleMapping('ml_full_access', parseRoleMappingBody({ users: [] }));
  assert.deepEqual(await users.authenticateBasic('alice', 'alice-password'), {
    kind: 'user',
    name: 'alice',
    backendRoles: ['analyst'],
    roles: [],
  });
  await users.putUser('alice', parseUserBody({ password: 'new-password-1', backend_roles: ['analyst'] }));
  assert.equal(await users.authenticateBasic('alice', 'alice-password'), undefined);
  assert.ok(await users.authenticateBasic('alice', 'new-password-1'));
  await users.deleteUser('alice');
  assert.equal(await users.authenticateBasic('alice', 'new-password-1'), undefined);

  assert.deepEqual(Object.keys(await users.listRoleMappings()), ['all_access', 'ml_full_access', 'ml_readonly_access']);
  assert.deepEqual(await users.getRoleMapping('all_access'), {
    hosts: [],
    users: ['root'],
    reserved: false,
    hidden: false,
    backend_roles: [],
    and_backend_roles: [],
    description: '',
  });
  await assert.rejects(users.putRoleMapping('bad role!', parseRoleMappingBody({})), (e: unknown) => e instanceof SecurityApiError);
});

test('rolesFromMappings supports wildcards', () => {
  const m = (role: string, users: string[], backendRoles: string[] = [], hosts: string[] = []) => ({ role, users, backendRoles, hosts, description: '' });
  const mappings = [m('ml_full_access', ['al*']), m('ml_readonly_access', [], ['hr-?']), m('all_access', ['root'])];
  assert.deepEqual(rolesFromMappings({ name: 'alice', backendRoles: ['hr-1'] }, mappings), ['ml_full_access', 'ml_readonly_access']);
  assert.deepEqual(rolesFromMappings({ name: 'bob', backendRoles: ['hr-12'] }, mappings), []);
});

test('passwords never reach the logs', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const { users } = setup(t, pino({ level: 'trace' }, sink));
  await users.putUser('alice', parseUserBody({ password: 'super-secret-pw', backend_roles: ['analyst'] }));
  await users.authenticateBasic('alice', 'super-secret-pw');
  await users.authenticateBasic('alice', 'wrong-secret-pw');
  const all = lines.join('');
  assert.ok(all.includes('internal user saved'));
  assert.ok(!all.includes('super-secret-pw') && !all.includes('wrong-secret-pw') && !all.includes('scrypt$'));
});

test('mlPermission: admins and no-security always; full access writes; readonly only reads', () => {
  const u = (roles: string[]) => ({ kind: 'user' as const, name: 'u', backendRoles: [], roles });
  const rows: [string, Parameters<typeof mlPermission>[0], boolean, boolean][] = [
    ['admin key', keyHolder('management-key'), true, true],
    ['no security', NO_PRINCIPAL, true, true],
    ['ml_full_access', u(['ml_full_access']), true, true],
    ['ml_readonly_access', u(['ml_readonly_access']), true, false],
    ['no ML role', u(['own_index']), false, false],
  ];
  for (const [name, p, read, write] of rows) {
    assert.equal(mlPermission(p, 'read'), read, `${name} read`);
    assert.equal(mlPermission(p, 'write'), write, `${name} write`);
  }
  assert.throws(
    () => requireMlPermission(u([]), 'read', 'cluster:admin/opensearch/ml/models/get'),
    (e: unknown) => e instanceof Error && (e as { status?: number }).status === 403 && /no permissions for \[cluster:admin\/opensearch\/ml\/models\/get\]/.test(e.message),
  );
});

test('requireModelPermission: TorchServe model routes; readonly may list and describe but not predict or change', () => {
  const u = (roles: string[]) => ({ kind: 'user' as const, name: 'u', backendRoles: ['hr'], roles });
  const reads = ['list', 'describe'];
  for (const action of Object.keys(MODEL_ACTIONS) as (keyof typeof MODEL_ACTIONS)[]) {
    for (const p of [keyHolder('management-key'), NO_PRINCIPAL, u(['ml_full_access']), u(['all_access'])]) {
      assert.doesNotThrow(() => requireModelPermission(p, action), `${action} ${JSON.stringify(p)}`);
    }
    const readonly = () => requireModelPermission(u(['ml_readonly_access']), action);
    if (reads.includes(action)) assert.doesNotThrow(readonly, action);
    else assert.throws(readonly, AccessDeniedError, action);
    assert.throws(
      () => requireModelPermission(u(['own_index']), action),
      (e: unknown) =>
        e instanceof AccessDeniedError &&
        e.status === 403 &&
        e.message === `no permissions for [${MODEL_ACTIONS[action].name}] and User [name=u, backend_roles=[hr], requestedTenant=null]`,
      action,
    );
  }
  assert.equal(MODEL_ACTIONS.predict.level, 'write', 'ml_readonly_access has no predict permission in OpenSearch');
});
