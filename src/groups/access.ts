/**
 * The pure access decisions of OpenSearch ML Commons model access control (model-groups.md §4.3,
 * §5.3, §5.4, §7, §9). No I/O, no clock: callers load the group and pass `now`. Table-tested in
 * test/unit/groups/access.test.ts.
 *
 * An `AclUser` of `null` is OpenSearch's "security disabled" user (principal kind `none`): access
 * control is then inactive whatever the setting says (§1 "Access control active").
 */
import type { Principal } from '../auth/principal.js';
import type { GroupDoc, GroupOwner } from '../store/store.js';

export type AccessMode = 'public' | 'private' | 'restricted';

export type AclUser = { readonly name: string; readonly backendRoles: readonly string[]; readonly roles: readonly string[] } | null;

/** Access fields of a register / update body, already type-checked (groups.ts parses the JSON). */
export type AccessInput = {
  /** undefined = not specified (absent, or an unknown value: §3 QUIRK `AccessMode.from` → null). */
  readonly accessMode: AccessMode | undefined;
  /** undefined = absent; [] = present but empty (matters for update, §5.3). */
  readonly backendRoles: readonly string[] | undefined;
  /** undefined = absent; false = present and false (matters: "even false", §4.2 6a, §5.3 4.3). */
  readonly addAllBackendRoles: boolean | undefined;
};

export type Decision<T = undefined> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Decision<T> => ({ ok: true, value });
const deny = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

// ---- messages (model-groups.md §12.1) -----------------------------------------------------------

export const MSG = {
  disabled:
    'You cannot specify model access control parameters because the Security plugin or model access control is disabled on your cluster.',
  rolesAndAddAll: 'You cannot specify backend roles and add all backend roles at the same time.',
  rolesOnlyRestricted: 'You can specify backend roles only for a model group with the restricted access mode.',
  adminAddAll: 'Admin users cannot add all backend roles to a model group.',
  needOneRole: 'You must have at least one backend role to register a restricted model group.',
  specifyRoles: 'You must specify one or more backend roles or add all backend roles to register a restricted model group.',
  notYourRoles: "You don't have the backend roles specified.",
  onlyOwnerOrAdmin: 'Only owner or admin can update access control data.',
  noUpdatePermission: "You don't have permission to update this model group.",
  ownerLostRole:
    "You don't have the specified backend role to update this model group. For more information, contact your administrator.",
  noBackendRoles: "You don't have any backend roles.",
  addAllFalseNeedsRoles: 'You have to specify backend roles when add all backend roles is set to false.',
} as const;

// ---- identities ---------------------------------------------------------------------------------

/** OpenSearch's user object for a principal; `null` = no security (principal kind `none`). */
export function aclUserOf(principal: Principal): AclUser {
  if (principal.kind === 'none') return null;
  const roles = principal.kind === 'admin' && !principal.roles.includes('all_access') ? [...principal.roles, 'all_access'] : principal.roles;
  return { name: principal.name, backendRoles: principal.backendRoles, roles };
}

/** §1: a user whose roles contain `all_access`. */
export function isAdmin(user: AclUser): boolean {
  return user !== null && user.roles.includes('all_access');
}

/** §1 "Access control active": a user is present and the setting is on. */
export function isAccessControlActive(user: AclUser, settingEnabled: boolean): boolean {
  return user !== null && settingEnabled;
}

/** §1: ownership compares names only; no owner (created while inactive) ⇒ nobody owns it. */
export function isOwner(doc: GroupDoc, user: AclUser): boolean {
  return user !== null && doc.owner !== undefined && doc.owner.name === user.name;
}

/** The owner object stored with a group created while access control is active (§2, §4.4). */
export function ownerOf(user: NonNullable<AclUser>): GroupOwner {
  return {
    name: user.name,
    backend_roles: [...user.backendRoles],
    roles: [...user.roles],
    custom_attribute_names: [],
    user_requested_tenant: null,
  };
}

const sharesRole = (groupRoles: readonly string[] | undefined, userRoles: readonly string[]): boolean =>
  (groupRoles ?? []).some((r) => userRoles.includes(r));

// ---- §9 ---------------------------------------------------------------------------------------

/**
 * §9.1 checkModelGroupPermission. A restricted group without backend roles is an internal error
 * in OpenSearch (`Backend roles shouldn't be null`, 500); such groups cannot be created here
 * (docs/compatibility.md), and if one exists it is simply denied.
 */
export function checkModelGroupPermission(doc: GroupDoc, user: AclUser): boolean {
  if (doc.owner === undefined) return true;
  if (doc.access === 'public') return true;
  if (user === null) return false;
  if (doc.access === 'private') return doc.owner.name === user.name;
  return sharesRole(doc.backend_roles, user.backendRoles);
}

export type GroupAccess = 'allowed' | 'denied' | 'missing';

/**
 * §9.2 validateModelGroupAccess (get / delete / model operations). `doc` undefined = the group
 * does not exist. Admins and inactive access control pass without looking at the group.
 */
export function validateModelGroupAccess(
  user: AclUser,
  settingEnabled: boolean,
  groupId: string | undefined,
  doc: GroupDoc | undefined,
): GroupAccess {
  if (groupId === undefined) return 'allowed';
  if (isAdmin(user) || !isAccessControlActive(user, settingEnabled)) return 'allowed';
  if (doc === undefined) return 'missing';
  return checkModelGroupPermission(doc, user) ? 'allowed' : 'denied';
}

/** Does validateModelGroupAccess need the group document at all? (skipped for admins / inactive). */
export function accessCheckNeedsGroup(user: AclUser, settingEnabled: boolean): boolean {
  return isAccessControlActive(user, settingEnabled) && !isAdmin(user);
}

// ---- §4 register --------------------------------------------------------------------------------

export type RegisterAccess = { access: AccessMode; backendRoles: string[]; owner: GroupOwner | undefined };

/** Any access field present, as §4.2 step 6a counts them (`add_all_backend_roles` even false). */
function hasRegisterAccessFields(input: AccessInput): boolean {
  return input.accessMode !== undefined || input.addAllBackendRoles !== undefined || (input.backendRoles ?? []).length > 0;
}

/** §4.2 step 6 and §4.3, then §4.4 (what is stored). */
export function decideRegisterAccess(user: AclUser, settingEnabled: boolean, input: AccessInput): Decision<RegisterAccess> {
  if (!isAccessControlActive(user, settingEnabled) || user === null) {
    if (hasRegisterAccessFields(input)) return deny(MSG.disabled);
    return ok({ access: 'public', backendRoles: [], owner: undefined });
  }
  const roles = input.backendRoles ?? [];
  const addAll = input.addAllBackendRoles === true;
  let mode = input.accessMode;
  if (mode === undefined) {
    if (roles.length > 0 && addAll) return deny(MSG.rolesAndAddAll);
    mode = addAll || roles.length > 0 ? 'restricted' : 'private';
  }
  if ((mode === 'public' || mode === 'private') && (roles.length > 0 || addAll)) return deny(MSG.rolesOnlyRestricted);
  const admin = isAdmin(user);
  if (mode === 'restricted') {
    if (admin && addAll) return deny(MSG.adminAddAll);
    if (!admin && user.backendRoles.length === 0) return deny(MSG.needOneRole);
    if (roles.length === 0 && !addAll) return deny(MSG.specifyRoles);
    if (roles.length > 0 && addAll) return deny(MSG.rolesAndAddAll);
    if (!admin && !addAll && !roles.every((r) => user.backendRoles.includes(r))) return deny(MSG.notYourRoles);
  }
  const stored = mode === 'restricted' ? (addAll ? [...user.backendRoles] : [...roles]) : [];
  return ok({ access: mode, backendRoles: stored, owner: ownerOf(user) });
}

// ---- §5 update ----------------------------------------------------------------------------------

/** §5.3 *hasAccessFields*: `backend_roles` counts even when empty. */
export function hasUpdateAccessFields(input: AccessInput): boolean {
  return input.accessMode !== undefined || input.addAllBackendRoles !== undefined || input.backendRoles !== undefined;
}

/**
 * §5.2 step 4 and §5.3: may `user` apply `input` to the group `doc`? Deviation (documented): an
 * update that would leave a restricted group without backend roles (`{"backend_roles": []}`,
 * §5.4 QUIRK) is refused with the "specify one or more backend roles" message, and with access
 * control inactive an empty `backend_roles` array is refused like any other access field.
 */
export function decideUpdateAccess(user: AclUser, settingEnabled: boolean, doc: GroupDoc, input: AccessInput): Decision {
  if (!isAccessControlActive(user, settingEnabled) || user === null) {
    return hasUpdateAccessFields(input) ? deny(MSG.disabled) : ok(undefined);
  }
  const admin = isAdmin(user);
  const owner = isOwner(doc, user);
  if (hasUpdateAccessFields(input) && !owner && !admin) return deny(MSG.onlyOwnerOrAdmin);
  if (!admin) {
    const hasGroupRole = doc.access === 'public' || (doc.access === 'restricted' && sharesRole(doc.backend_roles, user.backendRoles));
    if (!owner && !hasGroupRole) return deny(MSG.noUpdatePermission);
    if (owner && doc.access === 'restricted' && !hasGroupRole) return deny(MSG.ownerLostRole);
  }
  const roles = input.backendRoles ?? [];
  const addAll = input.addAllBackendRoles === true;
  const mode = input.accessMode;
  if ((mode === 'public' || mode === 'private') && (roles.length > 0 || addAll)) return deny(MSG.rolesOnlyRestricted);
  if (mode === undefined || mode === 'restricted') {
    if (admin && addAll) return deny(MSG.adminAddAll);
    if (addAll && user.backendRoles.length === 0) return deny(MSG.noBackendRoles);
    if (roles.length === 0 && input.addAllBackendRoles === false) return deny(MSG.addAllFalseNeedsRoles);
    if (roles.length > 0 && addAll) return deny(MSG.rolesAndAddAll);
    if (mode === 'restricted' && roles.length === 0 && !addAll) return deny(MSG.specifyRoles);
    if (!admin && !roles.every((r) => user.backendRoles.includes(r))) return deny(MSG.notYourRoles);
    // §5.4 QUIRK fixed: `{"backend_roles": []}` would make a restricted group nobody can use.
    if (mode === undefined && input.backendRoles !== undefined && roles.length === 0 && !addAll) return deny(MSG.specifyRoles);
  }
  return ok(undefined);
}

export type UpdateInput = AccessInput & { readonly name: string | undefined; readonly description: string | undefined };

/** §5.4: the new document (owner, created_time and latest_version unchanged). */
export function applyGroupUpdate(doc: GroupDoc, input: UpdateInput, user: AclUser, now: number): GroupDoc {
  let access = doc.access;
  let backendRoles = doc.backend_roles ?? [];
  if (input.accessMode !== undefined) {
    access = input.accessMode;
    if (access !== 'restricted') backendRoles = [];
  } else if (input.backendRoles !== undefined || input.addAllBackendRoles === true) {
    access = 'restricted';
  }
  if (input.backendRoles !== undefined) backendRoles = [...input.backendRoles];
  else if (input.addAllBackendRoles === true && user !== null) backendRoles = [...user.backendRoles];
  const name = input.name !== undefined && input.name.trim() !== '' ? input.name : doc.name;
  const description = input.description !== undefined && input.description.trim() !== '' ? input.description : doc.description;
  return buildDoc({
    name,
    latest_version: doc.latest_version,
    description,
    backend_roles: backendRoles,
    owner: doc.owner,
    access,
    model_group_id: doc.model_group_id,
    created_time: doc.created_time,
    last_updated_time: now,
  });
}

/** A document with OpenSearch's field order, absent fields (and empty backend_roles) dropped. */
export function buildDoc(fields: {
  name: string;
  latest_version: number;
  description: string | undefined;
  backend_roles: readonly string[] | undefined;
  owner: GroupOwner | undefined;
  access: AccessMode;
  model_group_id?: string | undefined;
  created_time: number;
  last_updated_time: number;
}): GroupDoc {
  const doc: GroupDoc = { name: fields.name, latest_version: fields.latest_version } as GroupDoc;
  if (fields.description !== undefined) doc.description = fields.description;
  if (fields.backend_roles && fields.backend_roles.length > 0) doc.backend_roles = [...fields.backend_roles];
  if (fields.owner !== undefined) doc.owner = fields.owner;
  doc.access = fields.access;
  if (fields.model_group_id !== undefined) doc.model_group_id = fields.model_group_id;
  doc.created_time = fields.created_time;
  doc.last_updated_time = fields.last_updated_time;
  return doc;
}

// ---- §7 search ----------------------------------------------------------------------------------

/** A query DSL object (search.ts evaluates it). */
export type Query = Record<string, unknown>;

/**
 * §7 visibility filter (ModelAccessControlHelper#addUserBackendRolesFilter), or undefined when no
 * filter applies (admin, no user, setting off).
 */
export function visibilityFilter(user: AclUser, settingEnabled: boolean): Query | undefined {
  if (!isAccessControlActive(user, settingEnabled) || user === null || isAdmin(user)) return undefined;
  return {
    bool: {
      should: [
        { term: { access: 'public' } },
        { terms: { 'backend_roles.keyword': [...user.backendRoles] } },
        {
          bool: {
            must: [
              { nested: { path: 'owner', query: { term: { 'owner.name.keyword': user.name } }, score_mode: 'none' } },
              { term: { access: 'private' } },
            ],
          },
        },
      ],
    },
  };
}

/**
 * §7: a `bool` query gets the filter appended as an extra `filter` clause; any other query becomes
 * `bool{must: query, filter: acl}`; no query → the filter alone. Deviation (documented): a bool
 * query made only of `should` clauses keeps requiring one of them (`minimum_should_match: 1`)
 * — appending a filter would otherwise make its `should` clauses optional and the caller's query
 * would silently match every visible group.
 */
export function combineWithAcl(query: Query | undefined, acl: Query | undefined): Query | undefined {
  if (acl === undefined) return query;
  if (query === undefined) return acl;
  const keys = Object.keys(query);
  if (keys.length === 1 && keys[0] === 'bool' && isPlainObject(query.bool)) {
    const bool = { ...(query.bool as Record<string, unknown>) };
    const listOf = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const onlyShould =
      listOf(bool.should).length > 0 && listOf(bool.must).length === 0 && listOf(bool.filter).length === 0 && bool.minimum_should_match === undefined;
    if (onlyShould) bool.minimum_should_match = 1;
    bool.filter = [...listOf(bool.filter), acl];
    return { bool };
  }
  return { bool: { must: query, filter: acl } };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
