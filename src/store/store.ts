/**
 * The metadata store contract (issue #7 "Store"): model groups, internal users, role mappings and
 * persistent settings. One small interface so a PostgreSQL implementation can follow the SQLite
 * one (sqlite-store.ts):
 *
 * - every method is async (a network database needs it; SQLite simply resolves at once);
 * - `transaction(fn)` runs `fn` with a handle whose calls are all part of one transaction; it
 *   commits when `fn` resolves and rolls back when it throws (with PostgreSQL: BEGIN on a pooled
 *   client, the same client for every call on the handle). Inside `fn` every call goes through
 *   that handle (pass `tx` down to helpers): the store itself is not joined implicitly (no async
 *   context tracking, it would slow every promise in the process) and a call on it waits for the
 *   transaction to end, which it never does;
 * - groups carry OpenSearch's optimistic-concurrency pair (`seqNo`, `version`): `updateGroup` and
 *   `deleteGroup` take the `seqNo` the caller read and fail with `StoreConflictError('version')`
 *   when the row changed meanwhile (model-groups.md §10.2: "conditional on the document's sequence
 *   number").
 *
 * The store keeps no business rules: validation and access decisions live in src/groups.
 */
import { TsServeError } from '../errors.js';

/** Owner of a group: the creating user, exactly as OpenSearch stores it (model-groups.md §2). */
export type GroupOwner = {
  name: string;
  backend_roles: string[];
  roles: string[];
  custom_attribute_names: string[];
  user_requested_tenant: string | null;
};

/**
 * The stored document (`_source` of `.plugins-ml-model-group`), wire field names as OpenSearch
 * spells them, in OpenSearch's serialisation order (model-groups.md §2).
 */
export type GroupDoc = {
  name: string;
  latest_version: number;
  description?: string;
  backend_roles?: string[];
  owner?: GroupOwner;
  access: 'public' | 'private' | 'restricted';
  model_group_id?: string;
  created_time: number;
  last_updated_time: number;
};

export type GroupRecord = {
  readonly id: string;
  readonly doc: GroupDoc;
  /** OpenSearch `_version`: 1 on insert, +1 on every write of this document. */
  readonly version: number;
  /** OpenSearch `_seq_no`: store-wide counter, bumped by every group write. */
  readonly seqNo: number;
  /** OpenSearch `_primary_term`; always 1 here (one "shard"). */
  readonly primaryTerm: number;
};

export type GroupDeleteResult = {
  /** false when no document had this id (OpenSearch's `"result": "not_found"`). */
  readonly deleted: boolean;
  /** `_version` and `_seq_no` of the delete operation itself. */
  readonly version: number;
  readonly seqNo: number;
  readonly primaryTerm: number;
};

export type UserRecord = {
  name: string;
  /** Self-describing password hash (see groups/users.ts); never leaves the service layer. */
  passwordHash: string;
  backendRoles: string[];
  attributes: Record<string, string>;
  description: string;
};

export type RoleMappingRecord = {
  role: string;
  users: string[];
  backendRoles: string[];
  hosts: string[];
  description: string;
};

/** What a store operation can conflict on. */
export type StoreConflictKind = 'id' | 'name' | 'version';

/**
 * A write lost against the current data: duplicate id, duplicate group name, or a stale seqNo.
 * The groups service turns these into OpenSearch's messages.
 */
export class StoreConflictError extends TsServeError {
  readonly kind: StoreConflictKind;
  /** For 'version': the seqNo the caller expected and the current one (undefined when deleted). */
  readonly expectedSeqNo: number | undefined;
  readonly currentSeqNo: number | undefined;

  constructor(kind: StoreConflictKind, message: string, expectedSeqNo?: number, currentSeqNo?: number) {
    super(409, 'ConflictStatusException', `STORE_CONFLICT_${kind.toUpperCase()}`, message);
    this.kind = kind;
    this.expectedSeqNo = expectedSeqNo;
    this.currentSeqNo = currentSeqNo;
  }
}

export interface MetadataStore {
  // ---- model groups -----------------------------------------------------------------------------
  getGroup(id: string): Promise<GroupRecord | undefined>;
  /** Exact, case-sensitive name match. */
  findGroupByName(name: string): Promise<GroupRecord | undefined>;
  /** All groups in insertion order (OpenSearch's tie order for equal scores). */
  listGroups(): Promise<GroupRecord[]>;
  /** Throws StoreConflictError 'id' or 'name'. */
  insertGroup(id: string, doc: GroupDoc): Promise<GroupRecord>;
  /** Replaces the document if its seqNo is still `ifSeqNo`; throws StoreConflictError 'version' | 'name'. */
  updateGroup(id: string, doc: GroupDoc, ifSeqNo: number): Promise<GroupRecord>;
  /** Deletes the document (if `ifSeqNo` is given, only while it is current). */
  deleteGroup(id: string, ifSeqNo?: number): Promise<GroupDeleteResult>;
  /**
   * Has a group ever been stored? Emulates "the model group index exists" (it is created on the
   * first registration, model-groups.md §2) for the messages that depend on it.
   */
  groupIndexExists(): Promise<boolean>;

  // ---- internal users ---------------------------------------------------------------------------
  getUser(name: string): Promise<UserRecord | undefined>;
  /** Sorted by name. */
  listUsers(): Promise<UserRecord[]>;
  putUser(user: UserRecord): Promise<{ created: boolean }>;
  deleteUser(name: string): Promise<boolean>;

  // ---- role mappings ----------------------------------------------------------------------------
  getRoleMapping(role: string): Promise<RoleMappingRecord | undefined>;
  /** Sorted by role. */
  listRoleMappings(): Promise<RoleMappingRecord[]>;
  putRoleMapping(mapping: RoleMappingRecord): Promise<{ created: boolean }>;
  deleteRoleMapping(role: string): Promise<boolean>;

  // ---- persistent settings ----------------------------------------------------------------------
  /** Flat setting keys (`plugins.ml_commons.model_access_control_enabled`) to string values. */
  getSettings(): Promise<Record<string, string>>;
  /** `null` removes the setting (OpenSearch: setting a value to null resets it). */
  putSetting(key: string, value: string | null): Promise<void>;

  /**
   * Runs `fn` in one transaction: commit on resolve, rollback on throw. Calls on `tx` belong to
   * it; transactions are serialised. Inside `fn`, use `tx` for EVERY call, also in helpers it
   * calls: a call on this store (or a service holding it) waits for the transaction to end, i.e.
   * deadlocks (the SQLite store fails such a call after a time limit rather than hang). Calling
   * `transaction` on `tx` runs inline (no nesting). `tx` must not be used after `fn` settled.
   */
  transaction<T>(fn: (tx: MetadataStore) => Promise<T>): Promise<T>;

  /** Waits for running transactions, then closes the database. Idempotent. */
  close(): Promise<void>;
}
