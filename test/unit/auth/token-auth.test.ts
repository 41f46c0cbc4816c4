import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { KEY_BYTES, TokenAuth, logAuthMode } from '../../../src/auth/token-auth.js';
import { KEY_FILE_NAME, type KeyFileContent } from '../../../src/auth/key-file.js';
import { silentLogger, type Logger } from '../../../src/logger.js';

type T = { after: (fn: () => Promise<void> | void) => void };

async function tempDir(t: T): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-token-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger that keeps every line, to check what is (not) logged. */
function captureLogger(): { log: Logger; lines: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream) as Logger, lines: () => out };
}

function clock(start = Date.parse('2025-01-01T00:00:00.000Z')) {
  let ms = start;
  return { now: () => ms, advance: (d: number) => void (ms += d) };
}

async function make(t: T, opts: { expirationMin?: number; now?: () => number; log?: Logger } = {}) {
  const workDir = await tempDir(t);
  const auth = await TokenAuth.create({
    workDir,
    expirationMin: opts.expirationMin ?? 60,
    log: opts.log ?? silentLogger(),
    ...(opts.now ? { now: opts.now } : {}),
  });
  t.after(() => auth.close());
  return { auth, workDir };
}

async function readKeys(auth: TokenAuth): Promise<KeyFileContent> {
  return JSON.parse(await readFile(auth.keyFilePath, 'utf8')) as KeyFileContent;
}

test('create writes key_file.json in workDir with the three entries, 0600, expirations now + lifetime', async (t) => {
  const c = clock();
  const { auth, workDir } = await make(t, { expirationMin: 0.25, now: c.now });
  assert.equal(auth.keyFilePath, path.join(workDir, KEY_FILE_NAME));
  const text = await readFile(auth.keyFilePath, 'utf8');
  const keys = JSON.parse(text) as KeyFileContent;
  assert.deepEqual(Object.keys(keys), ['management', 'inference', 'API']);
  assert.deepEqual(Object.keys(keys.management), ['key', 'expiration time']);
  assert.deepEqual(Object.keys(keys.inference), ['key', 'expiration time']);
  assert.deepEqual(Object.keys(keys.API), ['key']);
  assert.equal(keys.management['expiration time'], '2025-01-01T00:00:15.000Z');
  assert.equal(keys.inference['expiration time'], '2025-01-01T00:00:15.000Z');
  const lengthOfKey = Math.ceil((KEY_BYTES * 4) / 3);
  for (const k of [keys.management.key, keys.inference.key, keys.API.key]) {
    assert.match(k, /^[A-Za-z0-9_-]+$/);
    assert.equal(k.length, lengthOfKey);
  }
  assert.equal(new Set([keys.management.key, keys.inference.key, keys.API.key]).size, 3);
  assert.equal((await stat(auth.keyFilePath)).mode & 0o777, 0o600);
  assert.ok(text.startsWith('{\n  "management": {\n    "key": '));
});

test('check accepts the right key of each kind only', async (t) => {
  const { auth } = await make(t);
  const keys = await readKeys(auth);
  assert.equal(auth.check('management', `Bearer ${keys.management.key}`), true);
  assert.equal(auth.check('inference', `Bearer ${keys.inference.key}`), true);
  assert.equal(auth.check('API', `Bearer ${keys.API.key}`), true);
  // Keys are not interchangeable.
  assert.equal(auth.check('management', `Bearer ${keys.inference.key}`), false);
  assert.equal(auth.check('management', `Bearer ${keys.API.key}`), false);
  assert.equal(auth.check('inference', `Bearer ${keys.management.key}`), false);
  assert.equal(auth.check('API', `Bearer ${keys.management.key}`), false);
});

test('check rejects missing, malformed and wrong headers (spec §4.3 regex)', async (t) => {
  const { auth } = await make(t);
  const key = (await readKeys(auth)).inference.key;
  assert.equal(auth.check('inference', `Bearer \t  ${key}`), true, 'any whitespace run');
  for (const bad of [
    undefined,
    '',
    key,
    'Bearer',
    'Bearer ',
    `bearer ${key}`,
    `BEARER ${key}`,
    `Bearer${key}`,
    ` Bearer ${key}`,
    `Bearer ${key} `,
    `Bearer ${key} extra`,
    `Bearer ${key}x`,
    `Bearer ${key.slice(0, -1)}`,
    `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`,
    `Token ${key}`,
  ]) {
    assert.equal(auth.check('inference', bad), false, `accepted ${JSON.stringify(bad)}`);
  }
});

test('management and inference keys expire; the API key does not', async (t) => {
  const c = clock();
  const { auth } = await make(t, { expirationMin: 1, now: c.now });
  const keys = await readKeys(auth);
  c.advance(59_999);
  assert.equal(auth.check('management', `Bearer ${keys.management.key}`), true);
  assert.equal(auth.check('inference', `Bearer ${keys.inference.key}`), true);
  c.advance(1);
  assert.equal(auth.check('management', `Bearer ${keys.management.key}`), false);
  assert.equal(auth.check('inference', `Bearer ${keys.inference.key}`), false);
  c.advance(365 * 24 * 3600_000);
  assert.equal(auth.check('API', `Bearer ${keys.API.key}`), true);
});

for (const kind of ['management', 'inference'] as const) {
  test(`regenerate(${kind}) replaces that key only, renews its expiration, rewrites the file; the old key fails at once`, async (t) => {
    const c = clock();
    const { auth } = await make(t, { expirationMin: 1, now: c.now });
    const before = await readKeys(auth);
    const other = kind === 'management' ? 'inference' : 'management';
    c.advance(70_000); // both keys expired
    const pending = auth.regenerate(kind);
    assert.equal(auth.check(kind, `Bearer ${before[kind].key}`), false, 'old key fails before the file is written');
    const result = await pending;
    assert.deepEqual(Object.keys(result), [kind]);
    const fresh = result[kind];
    assert.notEqual(fresh.key, before[kind].key);
    assert.equal(fresh['expiration time'], '2025-01-01T00:02:10.000Z');
    assert.equal(auth.check(kind, `Bearer ${fresh.key}`), true);
    const after = await readKeys(auth);
    assert.deepEqual(after[kind], fresh);
    assert.deepEqual(after[other], before[other]);
    assert.deepEqual(after.API, before.API);
    assert.equal((await stat(auth.keyFilePath)).mode & 0o777, 0o600);
  });
}

test('concurrent regenerations leave the file equal to the final in-memory keys', async (t) => {
  const { auth, workDir } = await make(t);
  await Promise.all([
    auth.regenerate('management'),
    auth.regenerate('inference'),
    auth.regenerate('management'),
    auth.regenerate('inference'),
  ]);
  assert.deepEqual(await readKeys(auth), auth.snapshot());
  assert.deepEqual(await readdir(workDir), [KEY_FILE_NAME]);
});

test('a stale key file is replaced, its keys never accepted', async (t) => {
  const workDir = await tempDir(t);
  const stale = {
    management: { key: 'stalemgm', 'expiration time': '2999-01-01T00:00:00Z' },
    inference: { key: 'staleinf', 'expiration time': '2999-01-01T00:00:00Z' },
    API: { key: 'staleapi' },
  };
  await writeFile(path.join(workDir, KEY_FILE_NAME), JSON.stringify(stale), { mode: 0o644 });
  const auth = await TokenAuth.create({ workDir, expirationMin: 60, log: silentLogger() });
  t.after(() => auth.close());
  assert.equal(auth.check('management', 'Bearer stalemgm'), false);
  assert.equal(auth.check('inference', 'Bearer staleinf'), false);
  assert.equal(auth.check('API', 'Bearer staleapi'), false);
  assert.deepEqual(await readKeys(auth), auth.snapshot());
  assert.equal((await stat(auth.keyFilePath)).mode & 0o777, 0o600);
});

test('close deletes the key file (after a pending write) and regenerate then fails', async (t) => {
  const { auth, workDir } = await make(t);
  const pending = auth.regenerate('inference');
  await auth.close();
  await pending;
  assert.deepEqual(await readdir(workDir), []);
  await assert.rejects(auth.regenerate('management'));
  await auth.close();
});

test('create fails when the key file cannot be written', async (t) => {
  const workDir = await tempDir(t);
  await assert.rejects(
    TokenAuth.create({ workDir: path.join(workDir, 'nope'), expirationMin: 60, log: silentLogger() }),
    { code: 'ENOENT' },
  );
});

test('create rejects a non-positive lifetime', async (t) => {
  const workDir = await tempDir(t);
  await assert.rejects(TokenAuth.create({ workDir, expirationMin: 0, log: silentLogger() }), RangeError);
});

test('logs say where the key file is and never contain a key', async (t) => {
  const cap = captureLogger();
  const { auth } = await make(t, { log: cap.log });
  await auth.regenerate('management');
  const keys = await readKeys(auth);
  const out = cap.lines();
  assert.match(out, /token authorization enabled/);
  assert.ok(out.includes(auth.keyFilePath));
  for (const k of [keys.management.key, keys.inference.key, keys.API.key]) assert.ok(!out.includes(k));
});

test('logAuthMode warns that the server is open when token authorization is disabled', async (t) => {
  const cap = captureLogger();
  logAuthMode(cap.log, undefined);
  const line = JSON.parse(cap.lines().trim()) as { level: number; msg: string };
  assert.equal(line.level, 40);
  assert.match(line.msg, /disabled.*open/);
  const cap2 = captureLogger();
  const { auth } = await make(t);
  logAuthMode(cap2.log, auth);
  assert.equal(cap2.lines(), '');
});

test('check compares every byte of a key-length token, and the bytes, not the characters', async (t) => {
  const { auth } = await make(t);
  const key = (await readKeys(auth)).inference.key;
  for (let i = 0; i < key.length; i++) {
    const c = key[i] === 'A' ? 'B' : 'A';
    const wrong = key.slice(0, i) + c + key.slice(i + 1);
    assert.equal(auth.check('inference', `Bearer ${wrong}`), false, `position ${i}`);
  }
  // As many characters as the key but more bytes, and as many bytes but fewer characters.
  assert.equal(auth.check('inference', `Bearer ${key.slice(0, -1)}é`), false);
  assert.equal(auth.check('inference', `Bearer ${key.slice(0, -2)}é`), false);
  assert.equal(auth.check('inference', `Bearer ${'é'.repeat(key.length / 2)}`), false);
  assert.equal(auth.check('inference', `Bearer ${key}`), true, 'still accepts the key after rejections');
});
