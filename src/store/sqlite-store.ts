/**
 * MetadataStore on an embedded SQLite file (better-sqlite3), issue #7 "Store".
 *
 * Durability: WAL journal with `synchronous=FULL`. A commit appends to the WAL and fsyncs it
 * before `COMMIT` returns, so an acknowledged write survives `kill -9` (which the OS page cache
 * alone would already cover with NORMAL) *and* a power loss or OS crash (which NORMAL does not).
 * Metadata writes are rare (admin calls, registrations), so one fsync each costs nothing that
 * matters, while losing an acknowledged user or group would. A crash mid-transaction leaves
 * nothing behind: uncommitted WAL frames are ignored on the next open.
 *
 * Concurrency: better-sqlite3 is synchronous, so a single call cannot interleave with another.
 * A transaction spans awaits, though, so transactions and plain calls are queued behind one
 * FIFO mutex. Inside `transaction(fn)`, every call must go through the `tx` handle `fn` receives
 * (pass it down to helpers): a call on the store itself waits for the mutex, which its own
 * transaction holds until `fn` returns, so it would never run. `tx.transaction(inner)` runs
 * `inner` inline in the same transaction. Other processes sharing the file (replicas on one
 * host) are serialised by `BEGIN IMMEDIATE` and the busy timeout.
 *
 * Why no AsyncLocalStorage to let such calls join the open transaction: an active
 * AsyncLocalStorage makes Node (20, 22) install promise hooks, which every promise in the
 * process then pays for: a few µs and extra garbage on each inference request, for the sake of
 * rare admin transactions.
 *
 * Safety net for a call that forgot `tx`: a plain call (or `transaction`) made while a
 * transaction is open arms a watchdog; if that same transaction is still open `txWaitLimitMs`
 * later (default 10 s), the call is rejected with an Error naming the likely cause (its stack
 * points at the caller), so the offending transaction fails and rolls back instead of hanging
 * forever. A synchronous "a transaction is open, throw" check would be wrong: plain calls from
 * other requests legitimately wait for an open transaction, and without async context the store
 * cannot tell them apart from the forgetful caller. Real transactions here last milliseconds
 * (the busy timeout bounds `BEGIN IMMEDIATE` at 5 s, and that wait happens before the
 * transaction counts as open), so one staying open for 10 s is itself a bug. Calls made while no
 * transaction is open (the hot path) arm nothing.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../logger.js';
import {
  StoreConflictError,
  type GroupDeleteResult,
  type GroupDoc,
  type GroupRecord,
  type MetadataStore,
  type RoleMappingRecord,
  type UserRecord,
} from './store.js';

type Migration = { version: number; name: string; sql: string };

/** Append-only: never edit a released migration, add a new one. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE model_groups (
        pos          INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order
        id           TEXT NOT NULL UNIQUE,
        name         TEXT NOT NULL UNIQUE,              -- copy of doc.name: unique names (§4.2 step 5)
        doc          TEXT NOT NULL,                     -- JSON _source
        version      INTEGER NOT NULL,
        seq_no       INTEGER NOT NULL,
        primary_term INTEGER NOT NULL DEFAULT 1
      );
      CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      INSERT INTO counters (name, value) VALUES ('group_seq_no', -1), ('group_index_created', 0);
      CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        backend_roles TEXT NOT NULL, -- JSON array
        attributes    TEXT NOT NULL, -- JSON object
        description   TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      );
      CREATE TABLE role_mappings (
        role          TEXT PRIMARY KEY,
        users         TEXT NOT NULL, -- JSON arrays
        backend_roles TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT ''
      );
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
];

type GroupRow = { id: string; doc: string; version: number; seq_no: number; primary_term: number };
type UserRow = { name: string; password_hash: string; backend_roles: string; attributes: string; description: string };
type MappingRow = { role: string; users: string; backend_roles: string; hosts: string; description: string };

function prepareStatements(db: Database.Database) {
  return {
    getGroup: db.prepare<[string], GroupRow>('SELECT id, doc, version, seq_no, primary_term FROM model_groups WHERE id = ?'),
    groupByName: db.prepare<[string], GroupRow>('SELECT id, doc, version, seq_no, primary_term FROM model_groups WHERE name = ?'),
    listGroups: db.prepare<[], GroupRow>('SELECT id, doc, version, seq_no, primary_term FROM model_groups ORDER BY pos'),
    insertGroup: db.prepare('INSERT INTO model_groups (id, name, doc, version, seq_no, primary_term) VALUES (?, ?, ?, 1, ?, 1)'),
    updateGroup: db.prepare('UPDATE model_groups SET name = ?, doc = ?, version = version + 1, seq_no = ? WHERE id = ?'),
    deleteGroup: db.prepare('DELETE FROM model_groups WHERE id = ?'),
    nextSeq: db.prepare<[], { value: number }>("UPDATE counters SET value = value + 1 WHERE name = 'group_seq_no' RETURNING value"),
    markIndex: db.prepare("UPDATE counters SET value = 1 WHERE name = 'group_index_created'"),
    indexExists: db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'group_index_created'"),
    getUser: db.prepare<[string], UserRow>('SELECT name, password_hash, backend_roles, attributes, description FROM users WHERE name = ?'),
    listUsers: db.prepare<[], UserRow>('SELECT name, password_hash, backend_roles, attributes, description FROM users ORDER BY name'),
    insertUser: db.prepare(
      'INSERT INTO users (name, password_hash, backend_roles, attributes, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    updateUser: db.prepare(
      'UPDATE users SET password_hash = ?, backend_roles = ?, attributes = ?, description = ?, updated_at = ? WHERE name = ?',
    ),
    deleteUser: db.prepare('DELETE FROM users WHERE name = ?'),
    getMapping: db.prepare<[string], MappingRow>('SELECT role, users, backend_roles, hosts, description FROM role_mappings WHERE role = ?'),
    listMappings: db.prepare<[], MappingRow>('SELECT role, users, backend_roles, hosts, description FROM role_mappings ORDER BY role'),
    upsertMapping: db.prepare(
      `INSERT INTO role_mappings (role, users, backend_roles, hosts, description) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (role) DO UPDATE SET users = excluded.users, backend_roles = excluded.backend_roles,
         hosts = excluded.hosts, description = excluded.description`,
    ),
    deleteMapping: db.prepare('DELETE FROM role_mappings WHERE role = ?'),
    getSettings: db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings ORDER BY key'),
    putSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    deleteSetting: db.prepare('DELETE FROM settings WHERE key = ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** The raw synchronous operations; locking and transactions are layered on top. */
class Ops {
  readonly #db: Database.Database;
  readonly #s: Statements;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = prepareStatements(db);
  }

  getGroup(id: string): GroupRecord | undefined {
    return toGroup(this.#s.getGroup.get(id));
  }

  findGroupByName(name: string): GroupRecord | undefined {
    return toGroup(this.#s.groupByName.get(name));
  }

  listGroups(): GroupRecord[] {
    return this.#s.listGroups.all().map((r) => toGroup(r)!);
  }

  insertGroup(id: string, doc: GroupDoc): GroupRecord {
    return this.#atomically(() => {
      if (this.#s.getGroup.get(id)) throw new StoreConflictError('id', `group id '${id}' already exists`);
      if (this.#s.groupByName.get(doc.name)) throw new StoreConflictError('name', `group name already used`);
      const seqNo = this.#nextSeq();
      this.#s.insertGroup.run(id, doc.name, JSON.stringify(doc), seqNo);
      this.#s.markIndex.run();
      return { id, doc: clone(doc), version: 1, seqNo, primaryTerm: 1 };
    });
  }

  updateGroup(id: string, doc: GroupDoc, ifSeqNo: number): GroupRecord {
    return this.#atomically(() => {
      const current = this.#s.getGroup.get(id);
      if (!current || current.seq_no !== ifSeqNo) {
        throw new StoreConflictError('version', versionConflictMessage(id, ifSeqNo, current?.seq_no), ifSeqNo, current?.seq_no);
      }
      const other = this.#s.groupByName.get(doc.name);
      if (other && other.id !== id) throw new StoreConflictError('name', 'group name already used');
      const seqNo = this.#nextSeq();
      this.#s.updateGroup.run(doc.name, JSON.stringify(doc), seqNo, id);
      return { id, doc: clone(doc), version: current.version + 1, seqNo, primaryTerm: 1 };
    });
  }

  deleteGroup(id: string, ifSeqNo?: number): GroupDeleteResult {
    return this.#atomically(() => {
      const current = this.#s.getGroup.get(id);
      if (ifSeqNo !== undefined && (!current || current.seq_no !== ifSeqNo)) {
        throw new StoreConflictError('version', versionConflictMessage(id, ifSeqNo, current?.seq_no), ifSeqNo, current?.seq_no);
      }
      const seqNo = this.#nextSeq();
      if (!current) return { deleted: false, version: 1, seqNo, primaryTerm: 1 };
      this.#s.deleteGroup.run(id);
      return { deleted: true, version: current.version + 1, seqNo, primaryTerm: 1 };
    });
  }

  groupIndexExists(): boolean {
    return (this.#s.indexExists.get()?.value ?? 0) === 1;
  }

  getUser(name: string): UserRecord | undefined {
    return toUser(this.#s.getUser.get(name));
  }

  listUsers(): UserRecord[] {
    return this.#s.listUsers.all().map((r) => toUser(r)!);
  }

  putUser(user: UserRecord): { created: boolean } {
    const now = Date.now();
    const roles = JSON.stringify(user.backendRoles);
    const attrs = JSON.stringify(user.attributes);
    return this.#atomically(() => {
      const r = this.#s.updateUser.run(user.passwordHash, roles, attrs, user.description, now, user.name);
      if (r.changes > 0) return { created: false };
      this.#s.insertUser.run(user.name, user.passwordHash, roles, attrs, user.description, now, now);
      return { created: true };
    });
  }

  deleteUser(name: string): boolean {
    return this.#s.deleteUser.run(name).changes > 0;
  }

  getRoleMapping(role: string): RoleMappingRecord | undefined {
    return toMapping(this.#s.getMapping.get(role));
  }

  listRoleMappings(): RoleMappingRecord[] {
    return this.#s.listMappings.all().map((r) => toMapping(r)!);
  }

  putRoleMapping(m: RoleMappingRecord): { created: boolean } {
    return this.#atomically(() => {
      const existed = this.#s.getMapping.get(m.role) !== undefined;
      this.#s.upsertMapping.run(m.role, JSON.stringify(m.users), JSON.stringify(m.backendRoles), JSON.stringify(m.hosts), m.description);
      return { created: !existed };
    });
  }

  deleteRoleMapping(role: string): boolean {
    return this.#s.deleteMapping.run(role).changes > 0;
  }

  getSettings(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { key, value } of this.#s.getSettings.all()) out[key] = value;
    return out;
  }

  putSetting(key: string, value: string | null): void {
    if (value === null) this.#s.deleteSetting.run(key);
    else this.#s.putSetting.run(key, value);
  }

  #nextSeq(): number {
    return this.#s.nextSeq.get()!.value;
  }

  /** Multi-statement writes are atomic on their own (a savepoint when inside a transaction). */
  #atomically<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }
}

function versionConflictMessage(id: string, expected: number, current: number | undefined): string {
  return current === undefined
    ? `[${id}]: version conflict, document missing`
    : `[${id}]: version conflict, required seqNo [${expected}], primary term [1]. current document has seqNo [${current}] and primary term [1]`;
}

function toGroup(row: GroupRow | undefined): GroupRecord | undefined {
  if (!row) return undefined;
  return { id: row.id, doc: JSON.parse(row.doc) as GroupDoc, version: row.version, seqNo: row.seq_no, primaryTerm: row.primary_term };
}

function toUser(row: UserRow | undefined): UserRecord | undefined {
  if (!row) return undefined;
  return {
    name: row.name,
    passwordHash: row.password_hash,
    backendRoles: JSON.parse(row.backend_roles) as string[],
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    description: row.description,
  };
}

function toMapping(row: MappingRow | undefined): RoleMappingRecord | undefined {
  if (!row) return undefined;
  return {
    role: row.role,
    users: JSON.parse(row.users) as string[],
    backendRoles: JSON.parse(row.backend_roles) as string[],
    hosts: JSON.parse(row.hosts) as string[],
    description: row.description,
  };
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** FIFO mutex: `lock()` resolves with the release function once every earlier holder released. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  lock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const prev = this.#tail;
    this.#tail = prev.then(() => held);
    return prev.then(() => release);
  }
}

type Runner = <T>(name: string, op: () => T) => Promise<T>;

/** Builds the async MetadataStore surface over the sync ops, running each through `run`. */
function facade(
  ops: Ops,
  run: Runner,
  transaction: MetadataStore['transaction'],
  close: MetadataStore['close'],
): MetadataStore {
  return {
    getGroup: (id) => run('getGroup', () => ops.getGroup(id)),
    findGroupByName: (name) => run('findGroupByName', () => ops.findGroupByName(name)),
    listGroups: () => run('listGroups', () => ops.listGroups()),
    insertGroup: (id, doc) => run('insertGroup', () => ops.insertGroup(id, doc)),
    updateGroup: (id, doc, ifSeqNo) => run('updateGroup', () => ops.updateGroup(id, doc, ifSeqNo)),
    deleteGroup: (id, ifSeqNo) => run('deleteGroup', () => ops.deleteGroup(id, ifSeqNo)),
    groupIndexExists: () => run('groupIndexExists', () => ops.groupIndexExists()),
    getUser: (name) => run('getUser', () => ops.getUser(name)),
    listUsers: () => run('listUsers', () => ops.listUsers()),
    putUser: (user) => run('putUser', () => ops.putUser(user)),
    deleteUser: (name) => run('deleteUser', () => ops.deleteUser(name)),
    getRoleMapping: (role) => run('getRoleMapping', () => ops.getRoleMapping(role)),
    listRoleMappings: () => run('listRoleMappings', () => ops.listRoleMappings()),
    putRoleMapping: (m) => run('putRoleMapping', () => ops.putRoleMapping(m)),
    deleteRoleMapping: (role) => run('deleteRoleMapping', () => ops.deleteRoleMapping(role)),
    getSettings: () => run('getSettings', () => ops.getSettings()),
    putSetting: (key, value) => run('putSetting', () => ops.putSetting(key, value)),
    transaction,
    close,
  };
}

export type SqliteStoreOptions = {
  /**
   * A call on the store made while a transaction is open fails once that same transaction has
   * stayed open this long (default 10 000 ms): almost certainly the call was made from inside the
   * transaction without its `tx` handle and would otherwise wait forever (see the module comment).
   */
  txWaitLimitMs?: number;
};

const DEFAULT_TX_WAIT_LIMIT_MS = 10_000;

/**
 * Opens (creating on first start, mode 0600: it holds password hashes) the SQLite file at
 * `file` — ':memory:' for tests — and applies pending migrations. Callers resolve a relative
 * `metadata_store` against the server's working directory first.
 */
export function openSqliteStore(file: string, log: Logger, opts: SqliteStoreOptions = {}): MetadataStore {
  const waitLimitMs = opts.txWaitLimitMs ?? DEFAULT_TX_WAIT_LIMIT_MS;
  const inMemory = file === ':memory:';
  const location = inMemory ? file : path.resolve(file);
  if (!inMemory && !existsSync(location)) {
    mkdirSync(path.dirname(location), { recursive: true });
    try {
      closeSync(openSync(location, 'wx', 0o600));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const db = new Database(location, { timeout: 5000 });
  try {
    if (!inMemory) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`cannot enable WAL journal on ${location} (got ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const applied = migrate(db);
    log.info({ path: location, schemaVersion: latestVersion(), applied }, 'metadata store opened');
  } catch (err) {
    db.close();
    throw err;
  }

  const ops = new Ops(db);
  const mutex = new Mutex();
  /** Identity of the transaction holding the mutex between BEGIN and COMMIT/ROLLBACK. */
  let openTx: object | undefined;
  let closed = false;

  /**
   * Takes the mutex for a plain call or a top-level transaction. While a transaction is open,
   * a watchdog rejects the wait once that same transaction has stayed open `waitLimitMs` (the
   * module comment says why); the slot still queued in the mutex is released as soon as it comes up.
   */
  const acquire = (name: string): Promise<() => void> => {
    const pending = mutex.lock();
    if (openTx === undefined) return pending;
    // Created now so its stack names the caller (the code that should have used `tx`).
    const blocked = new Error(
      `metadata store ${name}() waited ${waitLimitMs} ms for a transaction that stayed open: ` +
        'a call made inside transaction(fn) must use the tx handle, not the store (it waits for its own transaction)',
    );
    return new Promise((resolve, reject) => {
      let watched = openTx;
      let timedOut = false;
      let timer: NodeJS.Timeout;
      const check = (): void => {
        if (watched !== undefined && watched === openTx) {
          timedOut = true;
          log.error({ err: blocked, call: name }, 'store call blocked by an open transaction');
          reject(blocked);
          return;
        }
        watched = openTx;
        timer = setTimeout(check, waitLimitMs);
      };
      timer = setTimeout(check, waitLimitMs);
      void pending.then((release) => {
        if (timedOut) return release();
        clearTimeout(timer);
        resolve(release);
      });
    });
  };

  const runTop: Runner = async (name, op) => {
    const release = await acquire(name);
    try {
      return op();
    } finally {
      release();
    }
  };

  const transaction = async <T>(fn: (tx: MetadataStore) => Promise<T>): Promise<T> => {
    const release = await acquire('transaction');
    const token = {};
    let active = true;
    const ended = (): Error => new Error('transaction handle used after the transaction ended');
    const runTx: Runner = async (_name, op) => {
      if (!active) throw ended();
      return op();
    };
    const tx: MetadataStore = facade(
      ops,
      runTx,
      // Already inside: run inline, same transaction (no nesting, no savepoint).
      (inner) => (active ? inner(tx) : Promise.reject(ended())),
      () => Promise.reject(new Error('cannot close the store from inside a transaction')),
    );
    try {
      db.exec('BEGIN IMMEDIATE');
      openTx = token;
      const result = await fn(tx);
      db.exec('COMMIT');
      return result;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    } finally {
      active = false;
      openTx = undefined;
      release();
    }
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    const release = await mutex.lock();
    try {
      db.close();
      log.info({ path: location }, 'metadata store closed');
    } finally {
      release();
    }
  };

  return facade(ops, runTop, transaction, close);
}

function latestVersion(): number {
  return MIGRATIONS[MIGRATIONS.length - 1]!.version;
}

/** Applies missing migrations, each in its own transaction; returns how many ran. */
function migrate(db: Database.Database): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  if (current > latestVersion()) {
    throw new Error(`metadata store schema version ${current} is newer than this server supports (${latestVersion()})`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  let applied = 0;
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }).immediate();
    applied++;
  }
  return applied;
}
