/**
 * Internal users and role mappings (issue #7 "Identities"), with the shapes of the OpenSearch
 * Security plugin's REST API (`_plugins/_security/api/internalusers`, `.../rolesmapping`).
 *
 * Passwords: scrypt (node:crypto, N=2^14, r=8, p=1, 64-byte key, 16-byte random salt), stored as
 * `scrypt$N$r$p$salt$hash` (base64). Verification is constant-time; unknown users cost the same
 * scrypt as known ones. Passwords and hashes are never logged and never returned.
 *
 * A user's roles come from the role mappings: a mapping applies when it lists the user's name,
 * one of the user's backend roles, or (when the caller passes the client address) a host
 * pattern (`*` and `?` wildcards, as in the Security plugin). Roles that matter: `all_access`
 * (admin), `ml_full_access`, `ml_readonly_access`.
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../logger.js';
import type { MetadataStore, RoleMappingRecord, UserRecord } from '../store/store.js';
import { AccessDeniedError } from '../errors.js';
import { OpenSearchError, SecurityApiError } from './errors.js';

export const ADMIN_ROLE = 'all_access';
export const ML_FULL_ACCESS = 'ml_full_access';
export const ML_READONLY_ACCESS = 'ml_readonly_access';

const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 64, saltLen: 16 } as const;
const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 1024;
/** Successful verifications are remembered briefly so Basic-auth traffic does not pay scrypt each time. */
const VERIFY_CACHE_TTL_MS = 5 * 60_000;
const VERIFY_CACHE_MAX = 1024;

function scrypt(password: BinaryLike, salt: BinaryLike, keyLen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keyLen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLen);
  const key = await scrypt(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time check of `password` against a stored hash; malformed hashes never verify. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length === 0) return false;
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return timingSafeEqual(actual, expected);
}

/** Burns the same scrypt cost for a user that does not exist (no user-enumeration by timing). */
const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.alloc(SCRYPT.saltLen).toString('base64')}$${Buffer.alloc(SCRYPT.keyLen).toString('base64')}`;

// ---- ML permissions -----------------------------------------------------------------------------

/**
 * May this principal use the ML APIs for `action`? Admins and `none` (no security) always may;
 * users need `ml_full_access` (everything) or `ml_readonly_access` (read / search only).
 */
export function mlPermission(principal: Principal, action: 'read' | 'write'): boolean {
  if (principal.kind !== 'user') return true;
  if (principal.roles.includes(ADMIN_ROLE) || principal.roles.includes(ML_FULL_ACCESS)) return true;
  return action === 'read' && principal.roles.includes(ML_READONLY_ACCESS);
}

function permissionMessage(principal: Principal, actionName: string): string {
  const who =
    principal.kind === 'none'
      ? 'User [null]'
      : `User [name=${principal.name}, backend_roles=[${principal.backendRoles.join(', ')}], requestedTenant=null]`;
  return `no permissions for [${actionName}] and ${who}`;
}

/** The Security plugin's 403 for a missing action permission (model-groups.md §1). */
export function noPermissionError(principal: Principal, actionName: string): OpenSearchError {
  return new OpenSearchError(403, 'security_exception', permissionMessage(principal, actionName), 'NO_PERMISSION');
}

/** Throws the Security plugin's 403 unless `mlPermission(principal, action)`. */
export function requireMlPermission(principal: Principal, action: 'read' | 'write', actionName: string): void {
  if (!mlPermission(principal, action)) throw noPermissionError(principal, actionName);
}

/**
 * The TorchServe model APIs as OpenSearch ML actions: the action name a denial names, and the
 * permission level it needs. `ml_readonly_access` covers get and search only; OpenSearch's role
 * has no predict permission, so inference needs `ml_full_access` (docs/compatibility.md).
 */
export const MODEL_ACTIONS = {
  list: { name: 'cluster:admin/opensearch/ml/models/search', level: 'read' },
  describe: { name: 'cluster:admin/opensearch/ml/models/get', level: 'read' },
  register: { name: 'cluster:admin/opensearch/ml/register_model', level: 'write' },
  scale: { name: 'cluster:admin/opensearch/ml/deploy_model', level: 'write' },
  setDefault: { name: 'cluster:admin/opensearch/ml/models/update', level: 'write' },
  unregister: { name: 'cluster:admin/opensearch/ml/models/delete', level: 'write' },
  predict: { name: 'cluster:admin/opensearch/ml/predict', level: 'write' },
} as const satisfies Record<string, { name: string; level: 'read' | 'write' }>;

export type ModelAction = keyof typeof MODEL_ACTIONS;

/**
 * For the TorchServe model routes (management and inference): throws a TorchServe-shaped 403
 * `AccessDeniedException` unless the principal's ML role allows `action`. Call it before looking
 * the model up, so a denied user learns nothing about which models exist.
 */
export function requireModelPermission(principal: Principal, action: ModelAction): void {
  const a = MODEL_ACTIONS[action];
  if (!mlPermission(principal, a.level)) throw new AccessDeniedError(permissionMessage(principal, a.name));
}

// ---- request bodies -----------------------------------------------------------------------------

export type UserInput = {
  password: string | undefined;
  backendRoles: string[];
  attributes: Record<string, string>;
  description: string;
};

export type RoleMappingInput = { users: string[]; backendRoles: string[]; hosts: string[]; description: string };

const badRequest = (message: string, code = 'SECURITY_BAD_REQUEST'): SecurityApiError => new SecurityApiError(400, message, code);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringArray(body: Record<string, unknown>, key: string): string[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw badRequest(`'${key}' must be an array of strings.`);
  return [...new Set(v as string[])];
}

/** User names: what fits in HTTP Basic (no ':'), no control characters, at most 256 characters. */
export function validateUserName(name: string): void {
  if (name.length === 0 || name.length > 256 || name.includes(':') || /\p{Cc}/u.test(name) || name.trim() !== name) {
    throw badRequest(`Invalid user name '${name}': 1 to 256 characters, no ':', no control characters, no leading or trailing spaces.`, 'INVALID_USER_NAME');
  }
}

export function validateRoleName(role: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$/.test(role)) {
    throw badRequest(`Invalid role name '${role}': letters, digits, '_', '.', '-', at most 128 characters.`, 'INVALID_ROLE_NAME');
  }
}

/** Body of PUT internalusers/{name}: password, backend_roles, attributes, description. */
export function parseUserBody(body: unknown): UserInput {
  if (!isObject(body)) throw badRequest('Request body required for this action.', 'SECURITY_EMPTY_BODY');
  if (body.hash !== undefined && body.hash !== null && body.password === undefined) {
    throw badRequest("'hash' is not supported: send 'password' (it is stored as an scrypt hash).", 'HASH_NOT_SUPPORTED');
  }
  let password: string | undefined;
  if (body.password !== undefined && body.password !== null) {
    if (typeof body.password !== 'string') throw badRequest("'password' must be a string.", 'INVALID_PASSWORD');
    if (body.password.length < MIN_PASSWORD_LENGTH) {
      throw badRequest(`Password is too short: at least ${MIN_PASSWORD_LENGTH} characters are required.`, 'INVALID_PASSWORD');
    }
    if (body.password.length > MAX_PASSWORD_LENGTH) {
      throw badRequest(`Password is too long: at most ${MAX_PASSWORD_LENGTH} characters are allowed.`, 'INVALID_PASSWORD');
    }
    password = body.password;
  }
  const attributes: Record<string, string> = {};
  if (body.attributes !== undefined && body.attributes !== null) {
    if (!isObject(body.attributes)) throw badRequest("'attributes' must be an object of strings.");
    for (const [k, v] of Object.entries(body.attributes)) {
      if (typeof v !== 'string') throw badRequest(`'attributes.${k}' must be a string.`);
      attributes[k] = v;
    }
  }
  if (body.description !== undefined && body.description !== null && typeof body.description !== 'string') {
    throw badRequest("'description' must be a string.");
  }
  return { password, backendRoles: stringArray(body, 'backend_roles'), attributes, description: (body.description as string | undefined) ?? '' };
}

/** Body of PUT rolesmapping/{role}: users, backend_roles, hosts, description. */
export function parseRoleMappingBody(body: unknown): RoleMappingInput {
  if (!isObject(body)) throw badRequest('Request body required for this action.', 'SECURITY_EMPTY_BODY');
  if (body.description !== undefined && body.description !== null && typeof body.description !== 'string') {
    throw badRequest("'description' must be a string.");
  }
  return {
    users: stringArray(body, 'users'),
    backendRoles: stringArray(body, 'backend_roles'),
    hosts: stringArray(body, 'hosts'),
    description: (body.description as string | undefined) ?? '',
  };
}

// ---- views (what GET answers) -------------------------------------------------------------------

export type UserView = {
  hash: '';
  reserved: false;
  hidden: false;
  backend_roles: string[];
  attributes: Record<string, string>;
  opendistro_security_roles: string[];
  static: false;
  description: string;
};

export type RoleMappingView = {
  hosts: string[];
  users: string[];
  reserved: false;
  hidden: false;
  backend_roles: string[];
  and_backend_roles: string[];
  description: string;
};

function userView(u: UserRecord): UserView {
  return {
    hash: '',
    reserved: false,
    hidden: false,
    backend_roles: [...u.backendRoles],
    attributes: { ...u.attributes },
    opendistro_security_roles: [],
    static: false,
    description: u.description,
  };
}

function mappingView(m: RoleMappingRecord): RoleMappingView {
  return {
    hosts: [...m.hosts],
    users: [...m.users],
    reserved: false,
    hidden: false,
    backend_roles: [...m.backendRoles],
    and_backend_roles: [],
    description: m.description,
  };
}

function globMatches(pattern: string, value: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === value;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(value);
}

/** Roles of `user` from `mappings` (pure; exported for tests). */
export function rolesFromMappings(
  user: { name: string; backendRoles: readonly string[] },
  mappings: readonly RoleMappingRecord[],
  host?: string,
): string[] {
  const roles: string[] = [];
  for (const m of mappings) {
    const byName = m.users.some((p) => globMatches(p, user.name));
    const byRole = m.backendRoles.some((p) => user.backendRoles.some((r) => globMatches(p, r)));
    const byHost = host !== undefined && m.hosts.some((p) => globMatches(p, host));
    if (byName || byRole || byHost) roles.push(m.role);
  }
  return roles.sort();
}

// ---- the service --------------------------------------------------------------------------------

export type UsersOptions = { store: MetadataStore; log: Logger };

export class Users {
  readonly #store: MetadataStore;
  readonly #log: Logger;
  /** HMAC key for the verification cache: keys are useless outside this process. */
  readonly #cacheKey = randomBytes(32);
  /** HMAC(name, password, stored hash) → expiry. Only successes; a changed hash never matches. */
  readonly #verified = new Map<string, number>();

  constructor(opts: UsersOptions) {
    this.#store = opts.store;
    this.#log = opts.log.child({ component: 'users' });
  }

  /** PUT internalusers/{name}: creates or replaces; the password is kept when omitted on update. */
  async putUser(name: string, input: UserInput): Promise<{ created: boolean }> {
    validateUserName(name);
    const passwordHash = input.password !== undefined ? await hashPassword(input.password) : undefined;
    const result = await this.#store.transaction(async (tx) => {
      const existing = await tx.getUser(name);
      if (!existing && passwordHash === undefined) {
        throw badRequest("Please specify either 'hash' or 'password' when creating a new internal user.", 'PASSWORD_REQUIRED');
      }
      return tx.putUser({
        name,
        passwordHash: passwordHash ?? existing!.passwordHash,
        backendRoles: input.backendRoles,
        attributes: input.attributes,
        description: input.description,
      });
    });
    this.#log.info({ user: name, created: result.created, backendRoles: input.backendRoles }, 'internal user saved');
    return result;
  }

  async getUser(name: string): Promise<UserView | undefined> {
    const u = await this.#store.getUser(name);
    return u ? userView(u) : undefined;
  }

  async listUsers(): Promise<Record<string, UserView>> {
    const out: Record<string, UserView> = {};
    for (const u of await this.#store.listUsers()) out[u.name] = userView(u);
    return out;
  }

  async deleteUser(name: string): Promise<boolean> {
    const deleted = await this.#store.deleteUser(name);
    if (deleted) this.#log.info({ user: name }, 'internal user deleted');
    return deleted;
  }

  async putRoleMapping(role: string, input: RoleMappingInput): Promise<{ created: boolean }> {
    validateRoleName(role);
    const result = await this.#store.putRoleMapping({ role, ...input });
    this.#log.info({ role, created: result.created, users: input.users, backendRoles: input.backendRoles }, 'role mapping saved');
    return result;
  }

  async getRoleMapping(role: string): Promise<RoleMappingView | undefined> {
    const m = await this.#store.getRoleMapping(role);
    return m ? mappingView(m) : undefined;
  }

  async listRoleMappings(): Promise<Record<string, RoleMappingView>> {
    const out: Record<string, RoleMappingView> = {};
    for (const m of await this.#store.listRoleMappings()) out[m.role] = mappingView(m);
    return out;
  }

  async deleteRoleMapping(role: string): Promise<boolean> {
    const deleted = await this.#store.deleteRoleMapping(role);
    if (deleted) this.#log.info({ role }, 'role mapping deleted');
    return deleted;
  }

  /**
   * HTTP Basic check for the auth hook: the user's principal (kind `admin` via `user` when a
   * mapping gives `all_access`), or undefined for an unknown user or a wrong password.
   * `host` (the client address) lets `hosts` role mappings apply.
   */
  async authenticateBasic(username: string, password: string, host?: string): Promise<Principal | undefined> {
    const user = await this.#store.getUser(username);
    if (!user) {
      await verifyPassword(password, DUMMY_HASH);
      return undefined;
    }
    if (!(await this.#checkPassword(user, password))) return undefined;
    return this.principalFor(user, host);
  }

  /** The principal of a stored user, roles resolved from the current role mappings. */
  async principalFor(user: Pick<UserRecord, 'name' | 'backendRoles'>, host?: string): Promise<Principal> {
    const roles = rolesFromMappings(user, await this.#store.listRoleMappings(), host);
    const backendRoles = [...user.backendRoles];
    return roles.includes(ADMIN_ROLE)
      ? { kind: 'admin', via: 'user', name: user.name, backendRoles, roles }
      : { kind: 'user', name: user.name, backendRoles, roles };
  }

  async #checkPassword(user: UserRecord, password: string): Promise<boolean> {
    const key = createHmac('sha256', this.#cacheKey).update(`${user.name}\0${password}\0${user.passwordHash}`).digest('base64');
    const now = Date.now();
    const expiry = this.#verified.get(key);
    if (expiry !== undefined && expiry > now) return true;
    if (expiry !== undefined) this.#verified.delete(key);
    if (!(await verifyPassword(password, user.passwordHash))) return false;
    if (this.#verified.size >= VERIFY_CACHE_MAX) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, now + VERIFY_CACHE_TTL_MS);
    return true;
  }
}
