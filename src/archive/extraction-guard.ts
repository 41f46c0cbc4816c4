/**
 * The rules every archive entry passes before a byte reaches the disk (issue #4 "Loading safely").
 * One guard per extraction: it normalises entry names, refuses anything that could land outside the
 * target directory, counts entries and uncompressed bytes, and spots duplicates.
 *
 *   entry name ──► safeRelativePath ──► addEntry (count, duplicates, file/dir clashes) ──► target path
 *   entry data ──► countingStream (running total vs maxUncompressedBytes) ──► file
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArchiveError } from '../errors.js';
import type { ArchiveLimits } from './types.js';

/**
 * Normalises an archive entry name into a relative POSIX path, or returns '' for the root itself
 * (`./`). Throws InvalidArchiveError for names that could escape the target: absolute paths, drive
 * letters, `..` segments, backslashes (a Windows separator a zip may smuggle in) and NUL bytes.
 */
export function safeRelativePath(name: string): string {
  if (name.includes('\0')) throw unsafe(name, 'contains a NUL byte');
  if (name.includes('\\')) throw unsafe(name, 'contains a backslash');
  if (name.startsWith('/')) throw unsafe(name, 'is an absolute path');
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, 'starts with a drive letter');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw unsafe(name, 'escapes the extraction directory');
    parts.push(part);
  }
  return parts.join('/');
}

function unsafe(name: string, why: string): InvalidArchiveError {
  return new InvalidArchiveError(`Unsafe archive entry "${printable(name)}": ${why}.`);
}

/** Entry names come from untrusted input: keep them readable in messages and logs. */
export function printable(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

export type EntryKind = 'file' | 'directory';

export class ExtractionGuard {
  readonly root: string;
  readonly limits: ArchiveLimits;
  #entries = 0;
  #claimedBytes = 0;
  #writtenBytes = 0;
  /** Relative path → what it is, to catch duplicates and file/directory clashes. */
  #seen = new Map<string, EntryKind>();

  constructor(root: string, limits: ArchiveLimits) {
    this.root = path.resolve(root);
    this.limits = limits;
  }

  get entryCount(): number {
    return this.#entries;
  }

  get writtenBytes(): number {
    return this.#writtenBytes;
  }

  /** Fails fast when a count announced up front (a zip's central directory) is already too many. */
  checkAnnouncedEntries(count: number): void {
    if (count > this.limits.maxEntries) throw this.tooManyEntries();
  }

  /**
   * Registers one entry and returns its absolute target path, or null for the root directory entry.
   * Throws InvalidArchiveError for unsafe names, too many entries, duplicates and clashes.
   */
  addEntry(name: string, kind: EntryKind): string | null {
    this.#entries += 1;
    if (this.#entries > this.limits.maxEntries) throw this.tooManyEntries();
    const rel = safeRelativePath(name);
    if (rel === '') {
      if (kind === 'file') throw unsafe(name, 'has no file name');
      return null;
    }
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const parent = parts.slice(0, i).join('/');
      if (this.#seen.get(parent) === 'file') {
        throw new InvalidArchiveError(`Archive entry "${printable(rel)}" is inside "${printable(parent)}", which is a file.`);
      }
      this.#seen.set(parent, 'directory');
    }
    const before = this.#seen.get(rel);
    if (before !== undefined && (before === 'file' || kind === 'file')) {
      throw new InvalidArchiveError(`Duplicate archive entry "${printable(rel)}".`);
    }
    this.#seen.set(rel, kind);
    const target = path.resolve(this.root, ...parts);
    // Belt and braces: the checks above already make this impossible.
    if (!target.startsWith(this.root + path.sep)) throw unsafe(name, 'escapes the extraction directory');
    return target;
  }

  /** Header-announced size of the next entry: rejects early without trusting it for the real count. */
  claimBytes(n: number): void {
    this.#claimedBytes += n;
    if (this.#claimedBytes > this.limits.maxUncompressedBytes) throw this.tooLarge();
  }

  /** Counts bytes actually written; throws once the total passes the limit. */
  countBytes(n: number): void {
    this.#writtenBytes += n;
    if (this.#writtenBytes > this.limits.maxUncompressedBytes) throw this.tooLarge();
  }

  /** A pass-through stream that counts what flows through it and fails the pipeline past the limit. */
  countingStream(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) => {
        try {
          this.countBytes(chunk.length);
        } catch (err) {
          done(err as Error);
          return;
        }
        done(null, chunk);
      },
    });
  }

  tooManyEntries(): InvalidArchiveError {
    return new InvalidArchiveError(
      `Archive has more than ${this.limits.maxEntries} entries (max_archive_entries).`,
    );
  }

  tooLarge(): InvalidArchiveError {
    return new InvalidArchiveError(
      `Archive expands to more than ${this.limits.maxUncompressedBytes} bytes (max_archive_uncompressed_size).`,
    );
  }
}

/** Creates a directory entry (private to the server: 0700). */
export async function makeEntryDirectory(target: string): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o700 });
}

/**
 * Streams one file entry to `target`, counting its bytes against the guard. `wx` refuses to replace
 * anything already there, so nothing (not even a clash the guard missed) is written twice.
 * `openSource` is called only once the pipeline can take the data at once: a zip entry's stream
 * starts inflating as soon as it exists and must not fail with nobody listening.
 */
export async function writeEntryFile(
  guard: ExtractionGuard,
  target: string,
  openSource: () => Promise<NodeJS.ReadableStream | AsyncIterable<Buffer>>,
): Promise<void> {
  try {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    await pipeline(await openSource(), guard.countingStream(), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') {
      throw new InvalidArchiveError(`Archive entry "${printable(path.relative(guard.root, target))}" clashes with another entry.`);
    }
    throw err;
  }
}
