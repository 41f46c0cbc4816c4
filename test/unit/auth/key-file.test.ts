import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, mkdir, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KEY_FILE_NAME, deleteKeyFile, formatKeyFile, writeKeyFile, type KeyFileContent } from '../../../src/auth/key-file.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-keyfile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const content: KeyFileContent = {
  management: { key: 'mgmtKEY_-1', 'expiration time': '2030-01-01T00:00:00.000Z' },
  inference: { key: 'infKEY_-2', 'expiration time': '2030-01-01T00:01:00.000Z' },
  API: { key: 'apiKEY_-3' },
};

test('formatKeyFile writes TorchServe key order and 2-space pretty JSON whatever the input order', () => {
  const shuffled = {
    API: { key: 'a' },
    inference: { 'expiration time': 'T2', key: 'i' },
    management: { 'expiration time': 'T1', key: 'm' },
  } as KeyFileContent;
  assert.equal(
    formatKeyFile(shuffled),
    '{\n' +
      '  "management": {\n    "key": "m",\n    "expiration time": "T1"\n  },\n' +
      '  "inference": {\n    "key": "i",\n    "expiration time": "T2"\n  },\n' +
      '  "API": {\n    "key": "a"\n  }\n' +
      '}\n',
  );
});

test('writeKeyFile writes the content with mode 0600 and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, KEY_FILE_NAME);
  await writeKeyFile(file, content);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), content);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), [KEY_FILE_NAME]);
});

test('a stale key file is replaced (not read), and gets mode 0600', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, KEY_FILE_NAME);
  await writeFile(file, '{"management": {"key": "stale', { mode: 0o644 });
  await writeKeyFile(file, content);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), content);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

test('a stale symlink is replaced by a regular file; its target is never written', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'target.txt');
  await writeFile(target, 'do not touch');
  const file = path.join(dir, KEY_FILE_NAME);
  await symlink(target, file);
  await writeKeyFile(file, content);
  assert.equal(await readFile(target, 'utf8'), 'do not touch');
  assert.ok((await lstat(file)).isFile());
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), content);
});

test('a failed write throws and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, KEY_FILE_NAME);
  await mkdir(file); // a directory where the file should go: rename fails
  await writeFile(path.join(file, 'x'), 'x');
  await assert.rejects(writeKeyFile(file, content));
  assert.deepEqual(await readdir(dir), [KEY_FILE_NAME]);
  await assert.rejects(writeKeyFile(path.join(dir, 'missing-dir', KEY_FILE_NAME), content), { code: 'ENOENT' });
});

test('readers never see a partial file while it is rewritten', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, KEY_FILE_NAME);
  await writeKeyFile(file, content);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; i < 40; i++) {
      const key = 'k'.repeat(1 + (i % 7) * 500);
      await writeKeyFile(file, { ...content, API: { key } });
    }
    writing = false;
  })();
  let reads = 0;
  while (writing) {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as KeyFileContent;
    assert.match(parsed.API.key, /^(apiKEY_-3|k+)$/);
    reads++;
  }
  await writer;
  assert.ok(reads > 0);
});

test('deleteKeyFile removes the file and tolerates a missing one', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, KEY_FILE_NAME);
  await writeKeyFile(file, content);
  await deleteKeyFile(file);
  assert.deepEqual(await readdir(dir), []);
  await deleteKeyFile(file);
});
