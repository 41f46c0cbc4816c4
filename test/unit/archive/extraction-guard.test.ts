import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArchiveError } from '../../../src/errors.js';
import { ExtractionGuard, safeRelativePath } from '../../../src/archive/extraction-guard.js';

const ROOT = path.resolve('/tmp/guard-root');
const limits = (maxEntries = 100, maxUncompressedBytes = 1000) => ({ maxEntries, maxUncompressedBytes });

function invalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArchiveError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, pattern);
    return true;
  });
}

test('safe names are normalised to relative POSIX paths', () => {
  assert.equal(safeRelativePath('a/b.onnx'), 'a/b.onnx');
  assert.equal(safeRelativePath('./a//b/'), 'a/b');
  assert.equal(safeRelativePath('./'), '');
  assert.equal(safeRelativePath('a/..b/c..'), 'a/..b/c..');
});

test('names that could escape are refused', () => {
  invalid(() => safeRelativePath('../x'), /"\.\.\/x": escapes the extraction directory/);
  invalid(() => safeRelativePath('a/../../x'), /escapes/);
  invalid(() => safeRelativePath('a/..'), /escapes/);
  invalid(() => safeRelativePath('/etc/passwd'), /absolute path/);
  invalid(() => safeRelativePath('C:/Windows/x'), /drive letter/);
  invalid(() => safeRelativePath('c:x'), /drive letter/);
  invalid(() => safeRelativePath('..\\x'), /backslash/);
  invalid(() => safeRelativePath('a\0b'), /NUL/);
});

test('entries map inside the root; the root entry maps to null', () => {
  const guard = new ExtractionGuard(ROOT, limits());
  assert.equal(guard.addEntry('a/b.txt', 'file'), path.join(ROOT, 'a', 'b.txt'));
  assert.equal(guard.addEntry('./', 'directory'), null);
  assert.equal(guard.addEntry('a/', 'directory'), path.join(ROOT, 'a'));
  assert.equal(guard.entryCount, 3);
});

test('duplicates and file/directory clashes are refused', () => {
  const guard = new ExtractionGuard(ROOT, limits());
  guard.addEntry('x.onnx', 'file');
  invalid(() => guard.addEntry('./x.onnx', 'file'), /Duplicate archive entry "x.onnx"/);
  invalid(() => guard.addEntry('x.onnx/inner', 'file'), /inside "x.onnx", which is a file/);
  guard.addEntry('d/f', 'file');
  invalid(() => guard.addEntry('d', 'file'), /Duplicate archive entry "d"/);
  guard.addEntry('d/', 'directory'); // a directory listed after its files is fine
});

test('entry count limit', () => {
  const guard = new ExtractionGuard(ROOT, limits(2));
  guard.addEntry('a', 'file');
  guard.addEntry('b', 'file');
  invalid(() => guard.addEntry('c', 'file'), /more than 2 entries \(max_archive_entries\)/);
  invalid(() => new ExtractionGuard(ROOT, limits(2)).checkAnnouncedEntries(3), /more than 2 entries/);
});

test('claimed and written bytes are limited separately', () => {
  const guard = new ExtractionGuard(ROOT, limits(10, 100));
  guard.claimBytes(60);
  invalid(() => guard.claimBytes(41), /more than 100 bytes \(max_archive_uncompressed_size\)/);
  const g2 = new ExtractionGuard(ROOT, limits(10, 100));
  g2.countBytes(100);
  invalid(() => g2.countBytes(1), /more than 100 bytes/);
});

test('the counting stream stops a stream that keeps going past the limit', async () => {
  const guard = new ExtractionGuard(ROOT, limits(10, 100_000));
  let produced = 0;
  const chunk = Buffer.alloc(16 * 1024);
  // An endless source: only the counter can stop it.
  const source = new Readable({
    read() {
      produced += chunk.length;
      this.push(chunk);
    },
  });
  let sunk = 0;
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      sunk += c.length;
      done();
    },
  });
  await assert.rejects(pipeline(source, guard.countingStream(), sink), /more than 100000 bytes/);
  assert.ok(sunk <= 100_000, `wrote ${sunk} bytes past the limit`);
  assert.ok(produced < 1_000_000, `kept reading: ${produced}`);
  assert.equal(source.destroyed, true);
});
