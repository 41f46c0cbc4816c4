/**
 * Safe extraction of a `.mar` zip (spec §9.1). Entry names are decoded here rather than by yauzl so
 * that every unsafe name gets the same clear message; sizes are counted while streaming (the
 * central directory's sizes are only used to fail early, never trusted).
 */
import yauzl from 'yauzl';
import { InvalidArchiveError, isTsServeError } from '../errors.js';
import { type ExtractionGuard, makeEntryDirectory, printable, writeEntryFile } from './extraction-guard.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** Zip compression methods yauzl can decode: stored and deflate. */
const SUPPORTED_METHODS = new Set([0, 8]);

export async function extractZip(file: string, guard: ExtractionGuard): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, {
      lazyEntries: true,
      decodeStrings: false,
      validateEntrySizes: true,
      autoClose: false,
    });
  } catch (err) {
    throw new InvalidArchiveError(`Invalid zip archive: ${(err as Error).message}`);
  }
  try {
    guard.checkAnnouncedEntries(zip.entryCount);
    for await (const entry of zip.eachEntry()) {
      await extractEntry(zip, entry, guard);
    }
  } catch (err) {
    throw asArchiveError(err, 'zip');
  } finally {
    zip.close();
  }
}

async function extractEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, guard: ExtractionGuard): Promise<void> {
  // decodeStrings: false leaves the raw bytes; strict = keep backslashes so the guard rejects them.
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
  const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) {
    throw new InvalidArchiveError(`Archive entry "${printable(name)}" is a symbolic link; links are not allowed.`);
  }
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw new InvalidArchiveError(`Archive entry "${printable(name)}" is not a regular file or directory.`);
  }
  const isDirectory = name.endsWith('/') || type === S_IFDIR;
  const target = guard.addEntry(name, isDirectory ? 'directory' : 'file');
  if (target === null) return;
  if (isDirectory) {
    await makeEntryDirectory(target);
    return;
  }
  if (entry.isEncrypted()) throw new InvalidArchiveError(`Archive entry "${printable(name)}" is encrypted.`);
  if (!SUPPORTED_METHODS.has(entry.compressionMethod)) {
    throw new InvalidArchiveError(
      `Archive entry "${printable(name)}" uses unsupported compression method ${entry.compressionMethod}.`,
    );
  }
  guard.claimBytes(entry.uncompressedSize);
  await writeEntryFile(guard, target, () => zip.openReadStreamPromise(entry));
}

/**
 * Everything that goes wrong while reading an untrusted archive is the client's problem (400), except
 * our own file system failing (disk full, permissions): those keep their system error (500).
 */
export function asArchiveError(err: unknown, format: 'zip' | 'tar'): Error {
  if (isTsServeError(err)) return err;
  if (typeof (err as NodeJS.ErrnoException)?.syscall === 'string') return err as Error;
  const message = err instanceof Error ? err.message : String(err);
  return new InvalidArchiveError(`Invalid ${format} archive: ${message}`);
}
