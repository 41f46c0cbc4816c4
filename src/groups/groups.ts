/**
 * Model groups with OpenSearch ML Commons semantics (model-groups.md, issue #7): register,
 * update, get, search and delete, the dynamic access-control setting, and the hooks the model
 * registry calls when model versions come and go (§10).
 *
 * State: everything lives in the MetadataStore (replicas share it) except transient cluster
 * settings, which OpenSearch forgets on restart and which are therefore per process here.
 * Persistent settings are re-read from the store at the start of every async call, so a change
 * made through another replica is seen on the next request.
 *
 * Error messages, statuses and types follow model-groups.md §4–§12; deliberate deviations (a
 * 500 for a client's mistake) are marked "Deviation" and listed in docs/compatibility.md.
 */
import { performance } from 'node:perf_hooks';
import { customAlphabet } from 'nanoid';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { StoreConflictError, type GroupDoc, type GroupRecord, type MetadataStore } from '../store/store.js';
import {
  accessCheckNeedsGroup,
  aclUserOf,
  applyGroupUpdate,
  buildDoc,
  combineWithAcl,
  decideRegisterAccess,
  decideUpdateAccess,
  isAccessControlActive,
  isAdmin,
  validateModelGroupAccess,
  visibilityFilter,
  type AccessInput,
  type AccessMode,
  type AclUser,
} from './access.js';
import { OpenSearchError, illegalArgument, parseError, statusError } from './errors.js';
import { GROUP_INDEX, parseSearchBody, runSearch, type SearchResponse } from './search.js';
import { Users, requireMlPermission } from './users.js';

export const ACCESS_CONTROL_SETTING = 'plugins.ml_commons.model_access_control_enabled';

/** Security-plugin action names checked before any group logic (model-groups.md §1). */
export const GROUP_ACTIONS = {
  register: 'cluster:admin/opensearch/ml/register_model_group',
  update: 'cluster:admin/opensearch/ml/update_model_group',
  get: 'cluster:admin/opensearch/ml/model_groups/get',
  delete: 'cluster:admin/opensearch/ml/model_groups/delete',
  search: 'cluster:admin/opensearch/ml/model_groups/search',
} as const;

/** Safe-text rule of name and description (§4.2): letters, digits, whitespace and . , ! ? ( ) : @ - _ / ' " */
const SAFE_TEXT = /^[\p{L}\p{N}\s.,!?():@\-_/'"]*$/u;
const NAME_UNSAFE = `Model group name can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/")`;
const DESCRIPTION_UNSAFE = `Model group description can only contain letters, numbers, spaces, and basic punctuation (.,!?():@-_'/")`;
const NAME_REQUIRED = 'Model group name is required and cannot be null or blank';
const EMPTY_BODY = 'Model group request has empty body';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const firstIdChar = customAlphabet(ALNUM, 1);
const restOfId = customAlphabet(`${ALNUM}_-`, 19);
/** 20-character URL-safe id like OpenSearch's; starts with a letter or digit so it is never `_search`-like. */
export function newGroupId(): string {
  return firstIdChar() + restOfId();
}

export type GroupsOptions = {
  store: MetadataStore;
  log: Logger;
  config: Pick<Config, 'modelAccessControlEnabled'>;
  /** Clock for created_time / last_updated_time (epoch ms); tests pass a fake. */
  now?: () => number;
  /** Id generator for new groups; tests may pass a deterministic one. */
  newId?: () => string;
};

export type RegisterResponse = { model_group_id: string; status: 'CREATED' };
export type UpdateResponse = { status: 'Updated' };
export type DeleteResponse = {
  _index: string;
  _id: string;
  _version: number;
  result: 'deleted' | 'not_found';
  _shards: { total: number; successful: number; failed: number };
  _seq_no: number;
  _primary_term: number;
};

export type ModelVersionReservation = {
  groupId: string;
  /** The new model's version number (`latest_version` after the increment). */
  groupVersion: number;
  /** This reservation created the group (it is deleted again by release()). */
  createdGroup: boolean;
  commit(): Promise<void>;
  release(): Promise<void>;
};

export type ReserveRequest = {
  modelName: string;
  modelGroupId?: string;
  /** The group existing versions of this model name already belong to (all versions share one group). */
  existingGroupId?: string;
  accessMode?: string;
  backendRoles?: string[];
  addAllBackendRoles?: boolean;
  description?: string;
};

export type ClusterSettingsResponse = {
  persistent: Record<string, unknown>;
  transient: Record<string, unknown>;
  defaults?: Record<string, unknown>;
};

type ParsedBody = AccessInput & {
  name: string | undefined;
  description: string | undefined;
  modelGroupId: string | undefined;
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Jackson's `text()`: strings as is, numbers and booleans as text, null = absent. */
function textField(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw parseError(`[${key}] must be a string`);
}

/** §3: lower-cased; an unknown value silently becomes "not specified" (QUIRK kept). */
export function parseAccessMode(v: unknown): AccessMode | undefined {
  if (typeof v !== 'string') return undefined;
  const m = v.toLowerCase();
  return m === 'public' || m === 'private' || m === 'restricted' ? m : undefined;
}

/** §3: `true`/`false` or the strings "true"/"false". */
function parseAddAll(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw parseError(`Failed to parse value [${String(v)}] as only [true] or [false] are allowed.`);
}

function parseBackendRoles(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((r) => typeof r === 'string')) throw parseError('[backend_roles] must be an array of strings');
  return v as string[];
}

function parseGroupBody(body: Record<string, unknown>): ParsedBody {
  return {
    name: textField(body, 'name'),
    description: textField(body, 'description'),
    accessMode: body.access_mode === undefined || body.access_mode === null ? undefined : parseAccessMode(textField(body, 'access_mode')),
    backendRoles: parseBackendRoles(body.backend_roles),
    addAllBackendRoles: parseAddAll(body.add_all_backend_roles),
    modelGroupId: textField(body, 'model_group_id'),
  };
}

/** "Validation Failed: 1: a;2: b;" (action_request_validation_exception, 400). */
function validationError(messages: string[]): OpenSearchError {
  const reason = `Validation Failed: ${messages.map((m, i) => `${i + 1}: ${m};`).join('')}`;
  return new OpenSearchError(400, 'action_request_validation_exception', reason, 'GROUP_VALIDATION');
}

/** §4.2 step 4: a caller-supplied document id. */
function validateCustomId(id: string): void {
  const fail = (reason: string): never => {
    throw illegalArgument(reason, 'GROUP_ID_INVALID');
  };
  if (id.trim() === '') fail('model group id is invalid');
  if (id.startsWith('_')) fail("model group id must not start with '_'");
  if (id.startsWith('-')) fail("model group id must not start with '-'");
  if (id.length > 512) fail('model group id is too long, max length is 512');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(id)) {
    fail('model group id must contain only letters, digits, underscores, and hyphens, and must start with a letter or digit');
  }
}

const notFoundById = (id: string): OpenSearchError =>
  statusError(404, `Failed to find model group with the provided model group id: ${id}`, 'GROUP_NOT_FOUND');

export class Groups {
  /** Internal users and role mappings (the auth hook calls `users.authenticateBasic`). */
  readonly users: Users;
  readonly #store: MetadataStore;
  readonly #log: Logger;
  readonly #configEnabled: boolean;
  readonly #now: () => number;
  readonly #newId: () => string;
  /** Last seen persistent settings (refreshed from the store by every async call). */
  #persistent: Record<string, string> = {};
  /** Transient settings: this process only, gone on restart (as OpenSearch forgets them). */
  readonly #transient: Record<string, string> = {};
  #countModels: (groupId: string) => number = () => 0;

  constructor(opts: GroupsOptions) {
    this.#store = opts.store;
    this.#log = opts.log.child({ component: 'groups' });
    this.#configEnabled = opts.config.modelAccessControlEnabled;
    this.#now = opts.now ?? Date.now;
    this.#newId = opts.newId ?? newGroupId;
    this.users = new Users({ store: opts.store, log: opts.log });
  }

  /** Loads persistent settings; await once before serving (isAccessControlActive is synchronous). */
  async init(): Promise<void> {
    await this.#refresh();
    this.#log.info({ modelAccessControlEnabled: this.accessControlEnabled() }, 'model groups ready');
  }

  /** Nothing of its own to release: the store is owned (and closed) by whoever opened it. */
  async close(): Promise<void> {}

  // ---- the dynamic setting ----------------------------------------------------------------------

  /** Effective `plugins.ml_commons.model_access_control_enabled`: transient > persistent > config. */
  accessControlEnabled(): boolean {
    const v = this.#transient[ACCESS_CONTROL_SETTING] ?? this.#persistent[ACCESS_CONTROL_SETTING];
    return v === undefined ? this.#configEnabled : v === 'true';
  }

  /** §1: a user is present (principal not `none`) and the setting is on. */
  isAccessControlActive(principal: Principal): boolean {
    return isAccessControlActive(aclUserOf(principal), this.accessControlEnabled());
  }

  async #refresh(): Promise<void> {
    this.#persistent = await this.#store.getSettings();
  }

  // ---- §4 register --------------------------------------------------------------------------------

  async register(principal: Principal, body: unknown): Promise<RegisterResponse> {
    requireMlPermission(principal, 'write', GROUP_ACTIONS.register);
    if (body === undefined) throw parseError(EMPTY_BODY);
    if (!isObject(body)) throw parseError('Model group request body must be a JSON object');
    const input = parseGroupBody(body);
    // Deviation: OpenSearch answers 500 null_pointer_exception here.
    if (input.name === undefined) throw illegalArgument('model group name must not be null', 'GROUP_NAME_MISSING');
    const problems: string[] = [];
    if (input.name.trim() === '') problems.push(NAME_REQUIRED);
    else if (!SAFE_TEXT.test(input.name)) problems.push(NAME_UNSAFE);
    if (input.description !== undefined && input.description.trim() !== '' && !SAFE_TEXT.test(input.description)) {
      problems.push(DESCRIPTION_UNSAFE);
    }
    if (problems.length > 0) throw validationError(problems);
    if (input.modelGroupId !== undefined) validateCustomId(input.modelGroupId);

    await this.#refresh();
    const user = aclUserOf(principal);
    const enabled = this.accessControlEnabled();
    const name = input.name;
    const record = await this.#store.transaction(async (tx) => {
      const sameName = await tx.findGroupByName(name);
      if (sameName) {
        throw illegalArgument(`The name you provided is already being used by a model group with ID: ${sameName.id}.`, 'GROUP_NAME_TAKEN');
      }
      const decision = decideRegisterAccess(user, enabled, input);
      if (!decision.ok) throw illegalArgument(decision.reason, 'GROUP_ACCESS_INVALID');
      const id = input.modelGroupId ?? this.#newId();
      if (input.modelGroupId !== undefined && (await tx.getGroup(id))) {
        throw statusError(409, `model group id '${id}' already exists`, 'GROUP_ID_TAKEN');
      }
      const now = this.#now();
      const doc = buildDoc({
        name,
        latest_version: 0,
        description: input.description,
        backend_roles: decision.value.backendRoles,
        owner: decision.value.owner,
        access: decision.value.access,
        created_time: now,
        last_updated_time: now,
      });
      return this.#insert(tx, id, doc);
    });
    this.#log.info({ groupId: record.id, access: record.doc.access, owner: record.doc.owner?.name }, 'model group registered');
    return { model_group_id: record.id, status: 'CREATED' };
  }

  async #insert(tx: MetadataStore, id: string, doc: GroupDoc): Promise<GroupRecord> {
    try {
      return await tx.insertGroup(id, doc);
    } catch (err) {
      if (err instanceof StoreConflictError && err.kind === 'id') throw statusError(409, `model group id '${id}' already exists`, 'GROUP_ID_TAKEN');
      if (err instanceof StoreConflictError && err.kind === 'name') {
        const other = await tx.findGroupByName(doc.name);
        throw illegalArgument(`The name you provided is already being used by a model group with ID: ${other?.id ?? ''}.`, 'GROUP_NAME_TAKEN');
      }
      throw err;
    }
  }

  // ---- §5 update ----------------------------------------------------------------------------------

  async update(principal: Principal, id: string, body: unknown): Promise<UpdateResponse> {
    requireMlPermission(principal, 'write', GROUP_ACTIONS.update);
    // Deviation: OpenSearch answers 500 i_o_exception for a missing body.
    if (body === undefined) throw parseError(EMPTY_BODY);
    if (!isObject(body)) throw parseError('Model group request body must be a JSON object');
    const input = parseGroupBody(body);
    const problems: string[] = [];
    if (input.name !== undefined && input.name.trim() !== '' && !SAFE_TEXT.test(input.name)) problems.push(NAME_UNSAFE);
    if (input.description !== undefined && input.description.trim() !== '' && !SAFE_TEXT.test(input.description)) {
      problems.push(DESCRIPTION_UNSAFE);
    }
    if (problems.length > 0) throw validationError(problems);

    await this.#refresh();
    const user = aclUserOf(principal);
    const enabled = this.accessControlEnabled();
    await this.#store.transaction(async (tx) => {
      const group = await tx.getGroup(id);
      if (!group) {
        if (!(await tx.groupIndexExists())) throw statusError(404, 'Failed to find model group', 'GROUP_INDEX_MISSING');
        throw notFoundById(id);
      }
      const decision = decideUpdateAccess(user, enabled, group.doc, input);
      if (!decision.ok) throw illegalArgument(decision.reason, 'GROUP_UPDATE_DENIED');
      if (input.name !== undefined && input.name.trim() !== '' && input.name !== group.doc.name) {
        const other = await tx.findGroupByName(input.name);
        if (other && other.id !== id) {
          throw illegalArgument(
            `The name you provided is already being used by another model with ID: ${other.id}. Please provide a different name`,
            'GROUP_NAME_TAKEN',
          );
        }
      }
      const doc = applyGroupUpdate(group.doc, input, user, this.#now());
      await this.#write(tx, id, doc, group.seqNo);
    });
    this.#log.info({ groupId: id }, 'model group updated');
    return { status: 'Updated' };
  }

  async #write(tx: MetadataStore, id: string, doc: GroupDoc, ifSeqNo: number): Promise<GroupRecord> {
    try {
      return await tx.updateGroup(id, doc, ifSeqNo);
    } catch (err) {
      if (err instanceof StoreConflictError && err.kind === 'version') {
        throw new OpenSearchError(409, 'version_conflict_engine_exception', err.message, 'GROUP_VERSION_CONFLICT');
      }
      throw err;
    }
  }

  // ---- §6 get -------------------------------------------------------------------------------------

  async get(principal: Principal, id: string): Promise<GroupDoc> {
    requireMlPermission(principal, 'read', GROUP_ACTIONS.get);
    await this.#refresh();
    const group = await this.#store.getGroup(id);
    if (!group) {
      if (!(await this.#store.groupIndexExists())) throw statusError(404, 'Failed to find model group index', 'GROUP_INDEX_MISSING');
      throw notFoundById(id);
    }
    const access = validateModelGroupAccess(aclUserOf(principal), this.accessControlEnabled(), id, group.doc);
    if (access !== 'allowed') {
      throw statusError(403, "User doesn't have privilege to perform this operation on this model group", 'GROUP_ACCESS_DENIED');
    }
    return group.doc;
  }

  // ---- §7 search ----------------------------------------------------------------------------------

  async search(principal: Principal, body: unknown): Promise<SearchResponse> {
    const started = performance.now();
    requireMlPermission(principal, 'read', GROUP_ACTIONS.search);
    if (body === undefined) throw parseError('request body or source parameter is required');
    if (!isObject(body)) throw parseError('search request body must be a JSON object');
    const request = parseSearchBody(body);
    await this.#refresh();
    const acl = visibilityFilter(aclUserOf(principal), this.accessControlEnabled());
    const query = combineWithAcl(request.query, acl);
    const records = await this.#store.listGroups();
    return runSearch(records, request, query, started, performance.now());
  }

  // ---- §8 delete ----------------------------------------------------------------------------------

  async delete(principal: Principal, id: string): Promise<DeleteResponse> {
    requireMlPermission(principal, 'write', GROUP_ACTIONS.delete);
    await this.#refresh();
    const user = aclUserOf(principal);
    const enabled = this.accessControlEnabled();
    const result = await this.#store.transaction(async (tx) => {
      if (accessCheckNeedsGroup(user, enabled)) {
        const group = await tx.getGroup(id);
        // Deviation: both are HTTP 500 in OpenSearch.
        if (!group) throw statusError(404, 'Fail to find model group', 'GROUP_NOT_FOUND');
        if (validateModelGroupAccess(user, enabled, id, group.doc) !== 'allowed') {
          throw statusError(403, "User doesn't have privilege to delete this model group", 'GROUP_DELETE_DENIED');
        }
      }
      if (this.#countModels(id) > 0) {
        throw statusError(409, 'Cannot delete the model group when it has associated model versions', 'GROUP_NOT_EMPTY');
      }
      if (!(await tx.groupIndexExists())) throw statusError(404, 'Failed to find model group', 'GROUP_INDEX_MISSING');
      return tx.deleteGroup(id);
    });
    if (result.deleted) this.#log.info({ groupId: id }, 'model group deleted');
    return {
      _index: GROUP_INDEX,
      _id: id,
      _version: result.version,
      result: result.deleted ? 'deleted' : 'not_found',
      _shards: { total: 2, successful: 1, failed: 0 },
      _seq_no: result.seqNo,
      _primary_term: result.primaryTerm,
    };
  }

  // ---- §10 model versions (called by the registry) ------------------------------------------------

  /**
   * Before registering a model version (§10.1, §10.2). With `modelGroupId` (or `existingGroupId`)
   * the caller must have access to that group; without, the group named after the model is
   * reused if the caller may access it, or created with the §4 rules. `latest_version` is
   * incremented in the same transaction. Call `commit()` once the model is registered, or
   * `release()` if registration failed: it deletes a group this reservation created, or sets
   * `latest_version` back (when no later registration took a number meanwhile).
   */
  async reserveModelVersion(principal: Principal, req: ReserveRequest): Promise<ModelVersionReservation> {
    await this.#refresh();
    const user = aclUserOf(principal);
    const enabled = this.accessControlEnabled();
    const reserved = await this.#store.transaction(async (tx) => {
      if (req.modelGroupId !== undefined && req.existingGroupId !== undefined && req.modelGroupId !== req.existingGroupId) {
        throw illegalArgument(
          `All versions of model ${req.modelName} belong to model group ${req.existingGroupId}; model_group_id ${req.modelGroupId} does not match it.`,
          'MODEL_GROUP_MISMATCH',
        );
      }
      const targetId = req.modelGroupId ?? req.existingGroupId;
      let group: GroupRecord | undefined;
      let createdGroup = false;
      if (targetId !== undefined) {
        group = await tx.getGroup(targetId);
        if (validateModelGroupAccess(user, enabled, targetId, group?.doc) === 'denied') {
          throw illegalArgument("You don't have permissions to perform this operation on this model.", 'MODEL_GROUP_ACCESS_DENIED');
        }
        // Deviation: OpenSearch answers 500 "Fail to find model group" (or fails later) here.
        if (!group) throw notFoundById(targetId);
      } else {
        group = await tx.findGroupByName(req.modelName);
        if (group) {
          if (validateModelGroupAccess(user, enabled, group.id, group.doc) !== 'allowed') {
            throw illegalArgument(
              `The name {${req.modelName}} you provided is unavailable because it is used by another model group with id {${group.id}} to which you do not have access. Please provide a different name.`,
              'MODEL_GROUP_NAME_UNAVAILABLE',
            );
          }
        } else {
          group = await this.#autoCreate(tx, user, enabled, req);
          createdGroup = true;
        }
      }
      const doc: GroupDoc = { ...group.doc, latest_version: group.doc.latest_version + 1, last_updated_time: this.#now() };
      await this.#write(tx, group.id, doc, group.seqNo);
      return { groupId: group.id, groupVersion: doc.latest_version, createdGroup };
    });
    this.#log.info({ model: req.modelName, groupId: reserved.groupId, version: reserved.groupVersion, createdGroup: reserved.createdGroup }, 'model version reserved');

    let settled = false;
    return {
      ...reserved,
      commit: async () => {
        settled = true;
      },
      release: async () => {
        if (settled) return;
        settled = true;
        await this.#releaseVersion(reserved.groupId, reserved.groupVersion, reserved.createdGroup);
      },
    };
  }

  /**
   * Snapshot restore (the server restarting, not a registration): the model version goes back into
   * the group it was recorded in. `latest_version` stays as it is (§10.2 hands out a number per
   * registration; a restart must not bump it). A group that no longer exists is a 404: the version
   * is not restored rather than restored without access control.
   */
  async restoreModelVersion(groupId: string): Promise<ModelVersionReservation> {
    const group = await this.#store.getGroup(groupId);
    if (!group) throw notFoundById(groupId);
    this.#log.info({ groupId, latestVersion: group.doc.latest_version }, 'model version restored into its group');
    return { groupId, groupVersion: group.doc.latest_version, createdGroup: false, commit: async () => {}, release: async () => {} };
  }

  /** §10.1 "Not found → auto-created" with the register rules of §4 (name = model name). */
  async #autoCreate(tx: MetadataStore, user: AclUser, enabled: boolean, req: ReserveRequest): Promise<GroupRecord> {
    const decision = decideRegisterAccess(user, enabled, {
      accessMode: req.accessMode === undefined ? undefined : parseAccessMode(req.accessMode),
      backendRoles: req.backendRoles,
      addAllBackendRoles: req.addAllBackendRoles,
    });
    if (!decision.ok) throw illegalArgument(decision.reason, 'GROUP_ACCESS_INVALID');
    const now = this.#now();
    const doc = buildDoc({
      name: req.modelName,
      latest_version: 0,
      description: req.description !== undefined && req.description.trim() !== '' ? req.description : undefined,
      backend_roles: decision.value.backendRoles,
      owner: decision.value.owner,
      access: decision.value.access,
      created_time: now,
      last_updated_time: now,
    });
    const record = await this.#insert(tx, this.#newId(), doc);
    this.#log.info({ groupId: record.id, model: req.modelName, access: doc.access }, 'model group created for model');
    return record;
  }

  async #releaseVersion(groupId: string, version: number, createdGroup: boolean): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const group = await tx.getGroup(groupId);
      // A later registration took a newer number: numbers are never reused, leave it.
      if (!group || group.doc.latest_version !== version) return;
      if (createdGroup && this.#countModels(groupId) === 0) {
        await tx.deleteGroup(groupId, group.seqNo);
        this.#log.info({ groupId }, 'model group removed after failed registration');
        return;
      }
      await this.#write(tx, groupId, { ...group.doc, latest_version: version - 1 }, group.seqNo);
    });
  }

  /** May the principal see/use models of this group? (§9.2; undefined group → true). */
  async canAccessModel(principal: Principal, groupId: string | undefined): Promise<boolean> {
    if (groupId === undefined) return true;
    const user = aclUserOf(principal);
    // No user or an admin: allowed whatever the setting says, so skip reading it (hot path).
    if (user === null || isAdmin(user)) return true;
    await this.#refresh();
    const enabled = this.accessControlEnabled();
    if (!accessCheckNeedsGroup(user, enabled)) return true;
    const group = await this.#store.getGroup(groupId);
    return validateModelGroupAccess(user, enabled, groupId, group?.doc) === 'allowed';
  }

  /**
   * One store read for filtering a list of models (§10.4): a predicate over group ids, true for
   * models without a group.
   */
  async modelAccessFilter(principal: Principal): Promise<(groupId: string | undefined) => boolean> {
    const user = aclUserOf(principal);
    if (user === null || isAdmin(user)) return () => true;
    await this.#refresh();
    const enabled = this.accessControlEnabled();
    if (!accessCheckNeedsGroup(user, enabled)) return () => true;
    const docs = new Map((await this.#store.listGroups()).map((g) => [g.id, g.doc]));
    return (groupId) => groupId === undefined || validateModelGroupAccess(user, enabled, groupId, docs.get(groupId)) === 'allowed';
  }

  /** A model version left the group; when none remain, the group is deleted (issue #7). */
  async modelVersionRemoved(groupId: string, remainingVersionsInGroup: number): Promise<void> {
    if (remainingVersionsInGroup > 0) return;
    const result = await this.#store.transaction(async (tx) => ((await tx.getGroup(groupId)) ? tx.deleteGroup(groupId) : undefined));
    if (result?.deleted) this.#log.info({ groupId }, 'model group deleted with its last model version');
  }

  /** The registry tells how many model versions a group holds (delete refuses non-empty groups, §8). */
  setModelCounter(fn: (groupId: string) => number): void {
    this.#countModels = fn;
  }

  // ---- cluster settings -----------------------------------------------------------------------------

  /** GET /_cluster/settings (nested keys unless `flat`). */
  async getClusterSettings(opts: { flat?: boolean; includeDefaults?: boolean } = {}): Promise<ClusterSettingsResponse> {
    await this.#refresh();
    const shape = (s: Record<string, string>): Record<string, unknown> => (opts.flat ? { ...s } : nestSettings(s));
    const out: ClusterSettingsResponse = { persistent: shape(this.#persistent), transient: shape(this.#transient) };
    if (opts.includeDefaults) out.defaults = shape({ [ACCESS_CONTROL_SETTING]: String(this.#configEnabled) });
    return out;
  }

  /**
   * PUT /_cluster/settings `{"persistent"|"transient": {...}}`, flat or nested keys. Only
   * `plugins.ml_commons.model_access_control_enabled` is known; `null` resets a value.
   */
  async putClusterSettings(body: unknown, opts: { flat?: boolean } = {}): Promise<ClusterSettingsResponse & { acknowledged: true }> {
    if (!isObject(body)) throw parseError('request body is required');
    for (const key of Object.keys(body)) {
      if (key !== 'persistent' && key !== 'transient') throw parseError(`request [/_cluster/settings] contains unrecognized parameter: [${key}]`);
    }
    const parsed: Record<'persistent' | 'transient', Record<string, string | null>> = { persistent: {}, transient: {} };
    for (const scope of ['persistent', 'transient'] as const) {
      const section = body[scope];
      if (section === undefined || section === null) continue;
      if (!isObject(section)) throw parseError(`[${scope}] must be an object`);
      for (const [key, value] of Object.entries(flattenSettings(section))) {
        if (key !== ACCESS_CONTROL_SETTING) throw illegalArgument(`${scope} setting [${key}], not recognized`, 'SETTING_UNKNOWN');
        if (value === null) {
          parsed[scope][key] = null;
          continue;
        }
        const text = typeof value === 'boolean' ? String(value) : typeof value === 'string' ? value : undefined;
        if (text !== 'true' && text !== 'false') {
          throw illegalArgument(`Failed to parse value [${String(value)}] as only [true] or [false] are allowed.`, 'SETTING_INVALID');
        }
        parsed[scope][key] = text;
      }
    }
    if (Object.keys(parsed.persistent).length === 0 && Object.keys(parsed.transient).length === 0) {
      throw new OpenSearchError(400, 'action_request_validation_exception', 'Validation Failed: 1: no settings to update;', 'SETTING_EMPTY');
    }
    await this.#store.transaction(async (tx) => {
      for (const [key, value] of Object.entries(parsed.persistent)) await tx.putSetting(key, value);
    });
    for (const [key, value] of Object.entries(parsed.transient)) {
      if (value === null) delete this.#transient[key];
      else this.#transient[key] = value;
    }
    await this.#refresh();
    this.#log.info({ persistent: parsed.persistent, transient: parsed.transient, effective: this.accessControlEnabled() }, 'cluster settings updated');
    const applied = (s: Record<string, string | null>): Record<string, unknown> => {
      const set = Object.fromEntries(Object.entries(s).filter((e): e is [string, string] => e[1] !== null));
      return opts.flat ? set : nestSettings(set);
    };
    return { acknowledged: true, persistent: applied(parsed.persistent), transient: applied(parsed.transient) };
  }
}

/** `{"a": {"b": 1}, "c.d": 2}` → `{"a.b": 1, "c.d": 2}` (OpenSearch accepts both forms). */
function flattenSettings(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v)) Object.assign(out, flattenSettings(v, key));
    else out[key] = v;
  }
  return out;
}

/** `{"a.b.c": "x"}` → `{"a": {"b": {"c": "x"}}}` (OpenSearch's default response shape). */
function nestSettings(flat: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) {
      if (!isObject(node[p])) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = value;
  }
  return out;
}
