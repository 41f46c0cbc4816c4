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

/** Resolves after `ms`; a test's own sleep. */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Tracks whether a promise settled yet, without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { settled: () => done, promise };
}

test('transactions: tx sees its own uncommitted writes; other callers wait, then see the commit', async (t) => {
  const store = open(t, ':memory:');
  let insideTx!: () => void;
  const txStarted = new Promise<void>((r) => (insideTx = r));
  let finish!: () => void;
  const mayFinish = new Promise<void>((r) => (finish = r));

  const txDone = store.transaction(async (tx) => {
    await tx.insertGroup('g', doc('g'));
    await tx.putSetting('k', 'v');
    assert.equal((await tx.getGroup('g'))?.id, 'g', 'tx reads its own write');
    assert.deepEqual(await tx.getSettings(), { k: 'v' });
    insideTx();
    await mayFinish;
    return 'result';
  });
  await txStarted;
  // Plain calls and another transaction from "other requests" queue behind the open one.
  const read = track(store.getGroup('g'));
  const settings = track(store.getSettings());
  const other = track(store.transaction(async (tx) => (await tx.getSettings()).k));
  await sleep(30);
  assert.equal(read.settled() || settings.settled() || other.settled(), false, 'they wait for the open transaction');
  finish();
  assert.equal(await txDone, 'result');
  assert.equal((await read.promise)?.id, 'g', 'the waiting reader sees the committed group');
  assert.deepEqual(await settings.promise, { k: 'v' });
  assert.equal(await other.promise, 'v');
});

test('transactions: a throw rolls back every write of the transaction', async (t) => {
  const store = open(t, ':memory:');
  await store.putSetting('keep', '1');
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.insertGroup('x', doc('x'));
      await tx.putUser({ name: 'u', passwordHash: 'h', backendRoles: [], attributes: {}, description: '' });
      await tx.putSetting('k', 'v');
      await tx.putSetting('keep', null);
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await store.getGroup('x'), undefined, 'rolled back');
  assert.equal(await store.getUser('u'), undefined);
  assert.deepEqual(await store.getSettings(), { keep: '1' });
  assert.equal(await store.groupIndexExists(), false, 'the index marker too');
  // A failed conflict check inside a transaction also rolls back the earlier writes.
  await store.insertGroup('a', doc('a'));
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.insertGroup('b', doc('b'));
      await tx.insertGroup('c', doc('a'));
    }),
    (e: unknown) => e instanceof StoreConflictError && e.kind === 'name',
  );
  assert.deepEqual((await store.listGroups()).map((g) => g.id), ['a']);
});

test('transactions: tx.transaction runs inline in the same transaction', async (t) => {
  const store = open(t, ':memory:');
  await store.transaction(async (tx) => {
    await tx.insertGroup('y', doc('y'));
    const seen = await tx.transaction(async (inner) => {
      assert.equal(inner, tx, 'the same handle');
      await inner.putSetting('nested', '1');
      return (await inner.getGroup('y'))?.id;
    });
    assert.equal(seen, 'y', 'inner sees the outer uncommitted write');
    assert.deepEqual(await tx.getSettings(), { nested: '1' });
  });
  assert.deepEqual(await store.getSettings(), { nested: '1' });
  assert.equal((await store.getGroup('y'))?.id, 'y');

  // An inner throw that escapes rolls back the whole transaction (there is no savepoint).
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.putSetting('outer', '1');
      await tx.transaction(async (inner) => {
        await inner.putSetting('inner', '1');
        throw new Error('inner boom');
      });
    }),
    /inner boom/,
  );
  assert.deepEqual(await store.getSettings(), { nested: '1' });
});

test('transactions: concurrent read-modify-write transactions do not lose updates', async (t) => {
  const store = open(t, ':memory:');
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
});

test('transactions: the handle is refused after the end; close is refused inside', async (t) => {
  const store = open(t, ':memory:');
  let leaked: MetadataStore | undefined;
  await store.transaction(async (tx) => {
    await assert.rejects(tx.close(), /cannot close the store from inside a transaction/);
    leaked = tx;
  });
  await assert.rejects(leaked!.getSettings(), /after the transaction ended/);
  await assert.rejects(leaked!.putSetting('k', 'v'), /after the transaction ended/);
  await assert.rejects(leaked!.transaction(async (tx) => tx.putSetting('k', 'v')), /after the transaction ended/);
  // Also after a rollback.
  await assert.rejects(
    store.transaction(async (tx) => {
      leaked = tx;
      throw new Error('boom');
    }),
    /boom/,
  );
  await assert.rejects(leaked!.getGroup('x'), /after the transaction ended/);
  assert.deepEqual(await store.getSettings(), {});
});

test('a store call made inside a transaction without tx fails loudly instead of hanging', async (t) => {
  const store = openSqliteStore(':memory:', silentLogger(), { txWaitLimitMs: 100 });
  t.after(() => store.close());
  const started = Date.now();
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.putSetting('k', 'v');
      await store.getSettings(); // the mistake: the outer store, not tx
    }),
    (e: unknown) => e instanceof Error && /getSettings\(\) waited 100 ms .*must use the tx handle/.test(e.message),
  );
  assert.ok(Date.now() - started < 5000, 'failed within the limit, not a hang');
  assert.deepEqual(await store.getSettings(), {}, 'the transaction rolled back');

  // Same for a nested transaction started on the store instead of on tx.
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.putSetting('k', 'v');
      await store.transaction(async (inner) => inner.putSetting('n', '1'));
    }),
    /transaction\(\) waited 100 ms/,
  );
  // The store keeps working, and the abandoned queue slots were released.
  await store.putSetting('after', '1');
  assert.deepEqual(await store.getSettings(), { after: '1' });
  assert.equal(await store.transaction(async (tx) => (await tx.getSettings()).after), '1');
});

test('the deadlock watchdog does not fail callers that legitimately wait behind many short transactions', async (t) => {
  const store = openSqliteStore(':memory:', silentLogger(), { txWaitLimitMs: 300 });
  t.after(() => store.close());
  let n = 0;
  let inFirst!: () => void;
  const firstOpen = new Promise<void>((r) => (inFirst = r));
  // 10 transactions of ~50 ms each: the reader below waits ~500 ms in all, longer than the
  // limit, but no single transaction stays open for the limit.
  const txs = Array.from({ length: 10 }, (_, i) =>
    store.transaction(async (tx) => {
      if (i === 0) inFirst();
      await sleep(50);
      await tx.putSetting('n', String(++n));
    }),
  );
  await firstOpen;
  const started = Date.now();
  const settings = await store.getSettings();
  assert.ok(Date.now() - started >= 300, `waited longer than the limit (${Date.now() - started} ms)`);
  assert.deepEqual(settings, { n: '10' }, 'queued behind all ten, FIFO');
  await Promise.all(txs);
});

test('using the store does not turn on promise hooks (no AsyncLocalStorage)', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const moduleUrl = pathToFileURL(path.join(REPO_ROOT, 'dist/src/store/sqlite-store.js')).href;
  const script = path.join(dir, 'probe.mjs');
  // Without promise hooks, promise continuations get no async id of their own: executionAsyncId()
  // is the same before and after an await. An active AsyncLocalStorage (Node 20/22) enables the
  // hooks for the whole process, which the control at the end demonstrates.
  writeFileSync(
    script,
    `import { AsyncLocalStorage, executionAsyncId } from 'node:async_hooks';
import { openSqliteStore } from ${JSON.stringify(moduleUrl)};
async function hooksOn() { const before = executionAsyncId(); await null; return executionAsyncId() !== before; }
const log = { info() {}, error() {}, child() { return log; } };
const store = openSqliteStore(':memory:', log);
let inside = false;
await store.transaction(async (tx) => {
  await tx.insertGroup('g', { name: 'g', latest_version: 0, access: 'public', created_time: 1, last_updated_time: 1 });
  await tx.transaction(async (inner) => inner.putSetting('k', 'v'));
  inside = await hooksOn();
});
await store.getGroup('g');
const afterStore = inside || (await hooksOn());
await store.close();
new AsyncLocalStorage().run(1, () => {});
process.stdout.write(JSON.stringify({ afterStore, control: await hooksOn() }));
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`probe timed out: ${stderr}`));
    }, 15_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout) as { afterStore: boolean; control: boolean };
  if (!result.control) {
    t.skip('AsyncLocalStorage does not use promise hooks on this Node version; nothing to observe');
    return;
  }
  assert.equal(result.afterStore, false, 'the store enabled promise hooks');
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
