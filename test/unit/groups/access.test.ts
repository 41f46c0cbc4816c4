/** Table tests for the pure access decisions (model-groups.md §4.3, §5.3, §5.4, §7, §9). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyHolder } from '../../../src/auth/principal.js';
import {
  MSG,
  aclUserOf,
  applyGroupUpdate,
  checkModelGroupPermission,
  combineWithAcl,
  decideRegisterAccess,
  decideUpdateAccess,
  isAdmin,
  validateModelGroupAccess,
  visibilityFilter,
  type AccessInput,
  type AclUser,
} from '../../../src/groups/access.js';
import type { GroupDoc } from '../../../src/store/store.js';

const user = (name: string, backendRoles: string[], roles = ['ml_full_access']): AclUser => ({ name, backendRoles, roles });
const alice = user('alice', ['analyst']);
const bob = user('bob', ['human-resources']);
const carol = user('carol', ['analyst', 'human-resources']);
const dave = user('dave', []);
const admin = aclUserOf(keyHolder('management-key'));

const owner = (name: string, backend_roles: string[]) => ({ name, backend_roles, roles: ['ml_full_access'], custom_attribute_names: [], user_requested_tenant: null });
const doc = (access: GroupDoc['access'], extra: Partial<GroupDoc> = {}): GroupDoc => ({
  name: `g-${access}`,
  latest_version: 0,
  owner: owner('alice', ['analyst']),
  access,
  created_time: 1,
  last_updated_time: 1,
  ...extra,
});
const publicG = doc('public');
const privateG = doc('private');
const restrictedG = doc('restricted', { backend_roles: ['analyst'] });
const legacyG: GroupDoc = { name: 'legacy', latest_version: 0, access: 'public', created_time: 1, last_updated_time: 1 };
const input = (i: Partial<AccessInput> = {}): AccessInput => ({ accessMode: undefined, backendRoles: undefined, addAllBackendRoles: undefined, ...i });

test('aclUserOf: none → null (security disabled); key holders are admins', () => {
  assert.equal(aclUserOf({ kind: 'none' }), null);
  assert.equal(isAdmin(admin), true);
  assert.equal(isAdmin(alice), false);
  assert.equal(isAdmin(null), false);
  assert.equal(isAdmin(aclUserOf({ kind: 'admin', via: 'user', name: 'root', backendRoles: [], roles: [] })), true);
});

test('§9.1 checkModelGroupPermission', () => {
  const rows: [string, GroupDoc, AclUser, boolean][] = [
    ['no owner (legacy) → allowed', legacyG, bob, true],
    ['public → allowed', publicG, bob, true],
    ['private, owner', privateG, alice, true],
    ['private, other', privateG, bob, false],
    ['private, other sharing a role', privateG, carol, false],
    ['restricted, shared role', restrictedG, carol, true],
    ['restricted, owner sharing a role', restrictedG, alice, true],
    ['restricted, no shared role', restrictedG, bob, false],
    ['restricted, owner who lost the role (owner not special)', restrictedG, user('alice', ['other']), false],
    ['restricted with no roles → denied, not a 500', doc('restricted'), carol, false],
  ];
  for (const [name, d, u, expected] of rows) assert.equal(checkModelGroupPermission(d, u), expected, name);
});

test('§9.2 validateModelGroupAccess matrix (active) and the skip rules', () => {
  const rows: [string, AclUser, GroupDoc, boolean][] = [
    ['admin/public', admin, publicG, true],
    ['admin/private', admin, privateG, true],
    ['admin/restricted', admin, restrictedG, true],
    ['owner/public', alice, publicG, true],
    ['owner/private', alice, privateG, true],
    ['owner/restricted', alice, restrictedG, true],
    ['sharer/public', carol, publicG, true],
    ['sharer/private', carol, privateG, false],
    ['sharer/restricted', carol, restrictedG, true],
    ['other/public', bob, publicG, true],
    ['other/private', bob, privateG, false],
    ['other/restricted', bob, restrictedG, false],
  ];
  for (const [name, u, d, expected] of rows) {
    assert.equal(validateModelGroupAccess(u, true, 'g', d), expected ? 'allowed' : 'denied', name);
  }
  assert.equal(validateModelGroupAccess(bob, true, undefined, undefined), 'allowed', 'no group id');
  assert.equal(validateModelGroupAccess(bob, true, 'g', undefined), 'missing');
  assert.equal(validateModelGroupAccess(admin, true, 'g', undefined), 'allowed', 'admins skip the lookup');
  assert.equal(validateModelGroupAccess(bob, false, 'g', privateG), 'allowed', 'setting off');
  assert.equal(validateModelGroupAccess(null, true, 'g', privateG), 'allowed', 'no user = security disabled');
});

test('§4.2 step 6 / §4.3 register decisions', () => {
  type Row = [string, AclUser, boolean, Partial<AccessInput>, string | { access: string; backendRoles: string[]; owner: boolean }];
  const rows: Row[] = [
    // inactive
    ['inactive, nothing', alice, false, {}, { access: 'public', backendRoles: [], owner: false }],
    ['inactive, access_mode', alice, false, { accessMode: 'private' }, MSG.disabled],
    ['inactive, add_all false counts', alice, false, { addAllBackendRoles: false }, MSG.disabled],
    ['inactive, roles', alice, false, { backendRoles: ['analyst'] }, MSG.disabled],
    ['inactive, empty roles are fine', alice, false, { backendRoles: [] }, { access: 'public', backendRoles: [], owner: false }],
    ['no user, access_mode', null, true, { accessMode: 'public' }, MSG.disabled],
    // active, mode unspecified
    ['default private', alice, true, {}, { access: 'private', backendRoles: [], owner: true }],
    ['roles → restricted', alice, true, { backendRoles: ['analyst'] }, { access: 'restricted', backendRoles: ['analyst'], owner: true }],
    ['add all → restricted', carol, true, { addAllBackendRoles: true }, { access: 'restricted', backendRoles: ['analyst', 'human-resources'], owner: true }],
    ['roles and add all, unspecified', alice, true, { backendRoles: ['analyst'], addAllBackendRoles: true }, MSG.rolesAndAddAll],
    ['add all false → private', alice, true, { addAllBackendRoles: false }, { access: 'private', backendRoles: [], owner: true }],
    // public / private with roles
    ['public with roles', alice, true, { accessMode: 'public', backendRoles: ['analyst'] }, MSG.rolesOnlyRestricted],
    ['private with add all', alice, true, { accessMode: 'private', addAllBackendRoles: true }, MSG.rolesOnlyRestricted],
    ['public', alice, true, { accessMode: 'public' }, { access: 'public', backendRoles: [], owner: true }],
    // restricted
    ['admin add all', admin, true, { accessMode: 'restricted', addAllBackendRoles: true }, MSG.adminAddAll],
    ['admin add all, mode unspecified', admin, true, { addAllBackendRoles: true }, MSG.adminAddAll],
    ['no backend roles', dave, true, { accessMode: 'restricted', backendRoles: ['x'] }, MSG.needOneRole],
    ['restricted, nothing given', alice, true, { accessMode: 'restricted' }, MSG.specifyRoles],
    ['restricted, both', alice, true, { accessMode: 'restricted', backendRoles: ['analyst'], addAllBackendRoles: true }, MSG.rolesAndAddAll],
    ['restricted, foreign role', alice, true, { accessMode: 'restricted', backendRoles: ['human-resources'] }, MSG.notYourRoles],
    ['restricted, admin any role', admin, true, { accessMode: 'restricted', backendRoles: ['whatever'] }, { access: 'restricted', backendRoles: ['whatever'], owner: true }],
    ['restricted, own roles', carol, true, { accessMode: 'restricted', backendRoles: ['human-resources'] }, { access: 'restricted', backendRoles: ['human-resources'], owner: true }],
  ];
  for (const [name, u, enabled, i, expected] of rows) {
    const d = decideRegisterAccess(u, enabled, input(i));
    if (typeof expected === 'string') {
      assert.deepEqual(d, { ok: false, reason: expected }, name);
    } else {
      assert.ok(d.ok, name);
      assert.equal(d.value.access, expected.access, name);
      assert.deepEqual(d.value.backendRoles, expected.backendRoles, name);
      assert.equal(d.value.owner !== undefined, expected.owner, name);
      if (d.value.owner) assert.equal(d.value.owner.name, u!.name, name);
    }
  }
});

test('§5.3 update decisions and the §9.3 rights table', () => {
  type Row = [string, AclUser, GroupDoc, Partial<AccessInput>, string | undefined];
  const lostOwner = user('alice', ['other']);
  const rows: Row[] = [
    // rights table: name/description only
    ['admin, name only', admin, privateG, {}, undefined],
    ['owner, private', alice, privateG, {}, undefined],
    ['owner, restricted sharing', alice, restrictedG, {}, undefined],
    ['owner, restricted lost role', lostOwner, restrictedG, {}, MSG.ownerLostRole],
    ['non-owner, public', bob, publicG, {}, undefined],
    ['non-owner, restricted shared', carol, restrictedG, {}, undefined],
    ['other, private', bob, privateG, {}, MSG.noUpdatePermission],
    ['other, restricted', bob, restrictedG, {}, MSG.noUpdatePermission],
    ['non-owner on legacy group (no owner) may rename', bob, legacyG, {}, undefined],
    // access fields
    ['non-owner with visibility, access field', carol, restrictedG, { accessMode: 'public' }, MSG.onlyOwnerOrAdmin],
    ['non-owner, empty roles array counts', bob, publicG, { backendRoles: [] }, MSG.onlyOwnerOrAdmin],
    ['non-owner, add all false counts', bob, publicG, { addAllBackendRoles: false }, MSG.onlyOwnerOrAdmin],
    ['legacy group: only admins change access', bob, legacyG, { accessMode: 'private' }, MSG.onlyOwnerOrAdmin],
    ['owner → public', alice, privateG, { accessMode: 'public' }, undefined],
    ['owner → private with roles', alice, publicG, { accessMode: 'private', backendRoles: ['analyst'] }, MSG.rolesOnlyRestricted],
    ['admin add all', admin, publicG, { addAllBackendRoles: true }, MSG.adminAddAll],
    ['owner without roles, add all', user('alice', []), privateG, { addAllBackendRoles: true }, MSG.noBackendRoles],
    ['add all false, no roles', alice, privateG, { addAllBackendRoles: false }, MSG.addAllFalseNeedsRoles],
    ['roles and add all', alice, privateG, { backendRoles: ['analyst'], addAllBackendRoles: true }, MSG.rolesAndAddAll],
    ['restricted, nothing', alice, privateG, { accessMode: 'restricted' }, MSG.specifyRoles],
    ['foreign roles', alice, privateG, { backendRoles: ['human-resources'] }, MSG.notYourRoles],
    ['admin any roles', admin, privateG, { backendRoles: ['anything'] }, undefined],
    ['owner own roles', alice, privateG, { backendRoles: ['analyst'] }, undefined],
    ['owner add all', alice, privateG, { addAllBackendRoles: true }, undefined],
    ['deviation: empty roles would leave restricted without roles', alice, privateG, { backendRoles: [] }, MSG.specifyRoles],
    ['empty roles with public is fine', alice, restrictedG, { accessMode: 'public', backendRoles: [] }, undefined],
  ];
  for (const [name, u, d, i, expected] of rows) {
    const res = decideUpdateAccess(u, true, d, input(i));
    assert.deepEqual(res, expected === undefined ? { ok: true, value: undefined } : { ok: false, reason: expected }, name);
  }
  // inactive: any access field (even an empty array) is refused; names are free for all
  assert.deepEqual(decideUpdateAccess(bob, false, privateG, input({})), { ok: true, value: undefined });
  assert.deepEqual(decideUpdateAccess(bob, false, privateG, input({ backendRoles: [] })), { ok: false, reason: MSG.disabled });
  assert.deepEqual(decideUpdateAccess(null, true, privateG, input({ addAllBackendRoles: false })), { ok: false, reason: MSG.disabled });
});

test('§5.4 applyGroupUpdate', () => {
  const u = { name: undefined, description: undefined };
  let d = applyGroupUpdate(restrictedG, { ...u, ...input({ accessMode: 'public' }) }, alice, 99);
  assert.equal(d.access, 'public');
  assert.equal(d.backend_roles, undefined, 'roles cleared (and omitted) when leaving restricted');
  assert.equal(d.last_updated_time, 99);
  assert.equal(d.created_time, 1);
  assert.deepEqual(d.owner, restrictedG.owner);

  d = applyGroupUpdate(privateG, { ...u, ...input({ backendRoles: ['analyst'] }) }, alice, 5);
  assert.deepEqual([d.access, d.backend_roles], ['restricted', ['analyst']]);

  d = applyGroupUpdate(privateG, { ...u, ...input({ addAllBackendRoles: true }) }, carol, 5);
  assert.deepEqual([d.access, d.backend_roles], ['restricted', ['analyst', 'human-resources']]);

  d = applyGroupUpdate(publicG, { name: '  ', description: '', ...input() }, alice, 5);
  assert.equal(d.name, publicG.name, 'blank name keeps the old one');
  d = applyGroupUpdate({ ...publicG, description: 'old' }, { name: 'new', description: ' ', ...input() }, alice, 5);
  assert.deepEqual([d.name, d.description], ['new', 'old'], 'blank description cannot clear it');
  assert.deepEqual(Object.keys(applyGroupUpdate(restrictedG, { name: 'x', description: 'y', ...input() }, alice, 5)), [
    'name', 'latest_version', 'description', 'backend_roles', 'owner', 'access', 'created_time', 'last_updated_time',
  ], 'OpenSearch field order');
});

test('§7 visibility filter and how it combines with the caller query', () => {
  assert.equal(visibilityFilter(admin, true), undefined);
  assert.equal(visibilityFilter(null, true), undefined);
  assert.equal(visibilityFilter(alice, false), undefined);
  const acl = visibilityFilter(alice, true)!;
  assert.deepEqual(acl, {
    bool: {
      should: [
        { term: { access: 'public' } },
        { terms: { 'backend_roles.keyword': ['analyst'] } },
        {
          bool: {
            must: [
              { nested: { path: 'owner', query: { term: { 'owner.name.keyword': 'alice' } }, score_mode: 'none' } },
              { term: { access: 'private' } },
            ],
          },
        },
      ],
    },
  });
  assert.equal(combineWithAcl(undefined, acl), acl);
  assert.equal(combineWithAcl({ match_all: {} }, undefined)!.match_all !== undefined, true);
  assert.deepEqual(combineWithAcl({ match_all: {} }, acl), { bool: { must: { match_all: {} }, filter: acl } });
  assert.deepEqual(combineWithAcl({ bool: { must: [{ term: { a: 1 } }], filter: { term: { b: 2 } } } }, acl), {
    bool: { must: [{ term: { a: 1 } }], filter: [{ term: { b: 2 } }, acl] },
  });
  assert.deepEqual(combineWithAcl({ bool: { should: [{ term: { a: 1 } }] } }, acl), {
    bool: { should: [{ term: { a: 1 } }], minimum_should_match: 1, filter: [acl] },
  });
});
