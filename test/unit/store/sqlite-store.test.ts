/** The SQLite metadata store: schema, groups with seqNo/version, users, mappings, settings, transactions, crash safety. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { silentLogger } from '../../../src/logger.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { StoreConflictError, type GroupDoc, type MetadataStore } from '../../../src/store/store.js';
import { REPO_ROOT } from '../../helpers/repo.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsserve-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: { after: (fn: () => Promise<void>) => void }, file: string): MetadataStore {
  const store = openSqliteStore(file, silentLogger());
  t.after(() => store.close());
  return store;
}

const doc = (name: string, extra: Partial<GroupDoc> = {}): GroupDoc => ({
  name,
  latest_version: 0,
  access: 'public',
  created_time: 1,
  last_updated_time: 1,
  ...extra,
});

test('creates the file on first open (0600, WAL, FULL sync) and records migrations', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'sub', 'meta.db');
  const store = openSqliteStore(file, silentLogger());
  await store.close();
  await store.close(); // idempotent
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const rows = db.prepare('SELECT version, name FROM schema_migrations').all() as { version: number }[];
    assert.deepEqual(rows.map((r) => r.version), [1]);
  } finally {
    db.close();
  }
  // Reopening applies nothing new and keeps working.
  const again = open(t, file);
  assert.equal(await again.groupIndexExists(), false);
});

test('refuses a database written by a newer schema', async (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  await openSqliteStore(file, silentLogger()).close();
  const db = new Database(file);
  db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('future');
  db.close();
  assert.throws(() => openSqliteStore(file, silentLogger()), /schema version 999 is newer/);
});

test('groups: insert, seqNo/version bookkeeping, optimistic concurrency, unique names and ids, delete', async (t) => {
  const store = open(t, ':memory:');
  assert.equal(await store.groupIndexExists(), false);
  const a = await store.insertGroup('a1', doc('alpha'));
  assert.deepEqual([a.version, a.seqNo, a.primaryTerm], [1, 0, 1]);
  assert.equal(await store.groupIndexExists(), true);
  const b = await store.insertGroup('b1', doc('beta'));
  assert.equal(b.seqNo, 1);

  await assert.rejects(store.insertGroup('a1', doc('other')), (e: unknown) => e instanceof StoreConflictError && e.kind === 'id');
  await assert.rejects(store.insertGroup('c1', doc('alpha')), (e: unknown) => e instanceof StoreConflictError && e.kind === 'name');
  await store.insertGroup('c1', doc('Alpha'));
  assert.equal((await store.findGroupByName('Alpha'))?.id, 'c1', 'names are case-sensitive');

  const a2 = await store.updateGroup('a1', doc('alpha', { latest_version: 1 }), a.seqNo);
  assert.deepEqual([a2.version, a2.seqNo, a2.doc.latest_version], [2, 3, 1]);
  await assert.rejects(store.updateGroup('a1', doc('alpha'), a.seqNo), (e: unknown) => e instanceof StoreConflictError && e.kind === 'version');
  await assert.rejects(store.updateGroup('a1', doc('beta'), a2.seqNo), (e: unknown) => e instanceof StoreConflictError && e.kind === 'name');
  await assert.rejects(store.updateGroup('nope', doc('zzz'), 0), (e: unknown) => e instanceof StoreConflictError && e.kind === 'version');

  assert.deepEqual((await store.listGroups()).map((g) => g.id), ['a1', 'b1', 'c1'], 'insertion order');
  assert.equal((await store.findGroupByName('beta'))?.id, 'b1');
  assert.equal(await store.findGroupByName('gamma'), undefined);

  await assert.rejects(store.deleteGroup('a1', 0), (e: unknown) => e instanceof StoreConflictError);
  const del = await store.deleteGroup('a1', a2.seqNo);
  assert.deepEqual([del.deleted, del.version], [true, 3]);
  const missing = await store.deleteGroup('a1');
  assert.deepEqual([missing.deleted, missing.version], [false, 1]);
  assert.ok(missing.seqNo > del.seqNo);
  assert.equal(await store.getGroup('a1'), undefined);
  // the name is free again
  await store.insertGroup('a2', doc('alpha'));
});

test('users, role mappings and settings round-trip', async (t) => {
  const store = open(t, ':memory:');
  const u = { name: 'alice', passwordHash: 'h1', backendRoles: ['analyst'], attributes: { team: 'x' }, description: 'A' };
  assert.deepEqual(await store.putUser(u), { created: true });
  assert.deepEqual(await store.putUser({ ...u, passwordHash: 'h2' }), { created: false });
  assert.deepEqual(await store.getUser('alice'), { ...u, passwordHash: 'h2' });
  await store.putUser({ ...u, name: 'bob' });
  assert.deepEqual((await store.listUsers()).map((x) => x.name), ['alice', 'bob']);
  assert.equal(await store.deleteUser('bob'), true);
  assert.equal(await store.deleteUser('bob'), false);

  const m = { role: 'ml_full_access', users: ['alice'], backendRoles: ['analyst'], hosts: [], description: '' };
  assert.deepEqual(await store.putRoleMapping(m), { created: true });
  assert.deepEqual(await store.putRoleMapping({ ...m, users: [] }), { created: false });
  assert.deepEqual(await store.getRoleMapping('ml_full_access'), { ...m, users: [] });
  assert.equal((await store.listRoleMappings()).length, 1);
  assert.equal(await store.deleteRoleMapping('ml_full_access'), true);
  assert.equal(await store.getRoleMapping('ml_full_access'), undefined);

  await store.putSetting('a.b', 'true');
  await store.putSetting('c', 'x');
  await store.putSetting('c', 'y');
  assert.deepEqual(await store.getSettings(), { 'a.b': 'true', c: 'y' });
  await store.putSetting('c', null);
  assert.deepEqual(await store.getSettings(), { 'a.b': 'true' });
});

test('transactions: commit, rollback, serialisation, and calls on the store from inside one', async (t) => {
  const store = open(t, ':memory:');
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.insertGroup('x', doc('x'));
      await tx.putSetting('k', 'v');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await store.getGroup('x'), undefined, 'rolled back');
  assert.deepEqual(await store.getSettings(), {});

  // Same async context: the outer store joins the open transaction instead of deadlocking.
  await store.transaction(async (tx) => {
    await tx.insertGroup('y', doc('y'));
    assert.equal((await store.getGroup('y'))?.id, 'y');
    await store.transaction(async (inner) => inner.putSetting('nested', '1'));
  });
  assert.deepEqual(await store.getSettings(), { nested: '1' });

  // Concurrent read-modify-write transactions do not lose updates.
  await store.insertGroup('ctr', doc('ctr'));
  await Promise.all(
    Array.from({ length: 20 }, () =>
      store.transaction(async (tx) => {
        const g = (await tx.getGroup('ctr'))!;
        await new Promise((r) => setImmediate(r));
        await tx.updateGroup('ctr', { ...g.doc, latest_version: g.doc.latest_version + 1 }, g.seqNo);
      }),
    ),
  );
  assert.equal((await store.getGroup('ctr'))!.doc.latest_version, 20);

  // A handle used after its transaction ended is refused.
  let leaked: MetadataStore | undefined;
  await store.transaction(async (tx) => {
    leaked = tx;
  });
  await assert.rejects(leaked!.getSettings(), /after the transaction ended/);
});

test('data survives close and reopen', async (t) => {
  const file = path.join(tempDir(t), 'meta.db');
  const first = openSqliteStore(file, silentLogger());
  await first.insertGroup('g1', doc('one', { owner: { name: 'alice', backend_roles: ['a'], roles: [], custom_attribute_names: [], user_requested_tenant: null } }));
  await first.putUser({ name: 'alice', passwordHash: 'h', backendRoles: [], attributes: {}, description: '' });
  await first.putSetting('s', 'true');
  await first.close();
  const second = open(t, file);
  assert.equal((await second.getGroup('g1'))!.doc.owner!.name, 'alice');
  assert.equal((await second.getUser('alice'))!.passwordHash, 'h');
  assert.deepEqual(await second.getSettings(), { s: 'true' });
  assert.equal((await second.insertGroup('g2', doc('two'))).seqNo, 1, 'seq_no continues');
});

test('kill -9 during a transaction loop leaves a consistent database', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'meta.db');
  const moduleUrl = pathToFileURL(path.join(REPO_ROOT, 'dist/src/store/sqlite-store.js')).href;
  const script = path.join(dir, 'writer.mjs');
  // Each transaction writes a group, a user and the counter; all three or none must survive.
  writeFileSync(
    script,
    `import { openSqliteStore } from ${JSON.stringify(moduleUrl)};
const log = { info() {}, child() { return log; } };
const store = openSqliteStore(${JSON.stringify(file)}, log);
for (let i = 1; ; i++) {
  await store.transaction(async (tx) => {
    await tx.insertGroup('g' + i, { name: 'n' + i, latest_version: 0, access: 'public', created_time: i, last_updated_time: i });
    await new Promise((r) => setImmediate(r));
    await tx.putUser({ name: 'u' + i, passwordHash: 'h', backendRoles: [], attributes: {}, description: '' });
    await tx.putSetting('count', String(i));
  });
  process.stdout.write(i + '\\n');
}
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let lastAcked = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer made no progress: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      const lines = d.toString().trim().split('\n');
      lastAcked = Number(lines[lines.length - 1]);
      if (lastAcked >= 150) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`writer exited early (${code}): ${stderr}`));
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;

  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
  const store = open(t, file);
  const count = Number((await store.getSettings()).count);
  assert.ok(count >= lastAcked, `acknowledged transactions survive (${count} >= ${lastAcked})`);
  assert.equal((await store.listGroups()).length, count, 'groups match the counter');
  assert.equal((await store.listUsers()).length, count, 'users match the counter');
  // The store keeps working after the crash.
  await store.insertGroup('after', doc('after'));
});
