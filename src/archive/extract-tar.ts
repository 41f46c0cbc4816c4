/**
 * Safe extraction of a gzip'd tar (`--archive-format tgz`, spec §9.1). Only regular files and
 * directories are accepted; links, devices and FIFOs are refused. Entries are handled one at a time:
 * the parser does not hand out the next entry until the current one has been consumed, so the
 * promise chain below doubles as back-pressure.
 *
 * TorchServe strips the first path component of every entry; we extract entries as they are and let
 * open-model pick the model root afterwards (the single top directory, or the root itself when it
 * holds MAR-INF), which gives the same result for archives made by either archiver.
 */
import { createReadStream } from 'node:fs';
import { Parser, type ReadEntry } from 'tar';
import { InvalidArchiveError } from '../errors.js';
import { asArchiveError } from './extract-zip.js';
import { type ExtractionGuard, makeEntryDirectory, printable, writeEntryFile } from './extraction-guard.js';

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DIRECTORY_TYPES = new Set(['Directory', 'GNUDumpDir']);
const LINK_TYPES = new Set(['SymbolicLink', 'Link']);

export async function extractTar(file: string, guard: ExtractionGuard): Promise<void> {
  const source = createReadStream(file);
  // strict: every parser warning (bad checksum, truncated archive, not a tar at all) is an error.
  // The decompression-ratio check is off: the guard's byte count is the one limit, and a legitimate
  // model full of zeros can compress better than tar's default 1000:1.
  const parser = new Parser({ strict: true, noResume: true, maxDecompressionRatio: Number.MAX_SAFE_INTEGER });

  let failure: unknown;
  let chain: Promise<void> = Promise.resolve();

  const done = new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => {
      if (failure !== undefined) return;
      failure = err;
      source.unpipe(parser);
      source.destroy();
      // Let the entry being written settle before reporting, so the caller's cleanup sees no
      // file still being created.
      chain.then(
        () => reject(err),
        () => reject(err),
      );
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (failure !== undefined) {
        entry.resume();
        return;
      }
      chain = chain.then(() => handleEntry(entry, guard));
      chain.catch(fail);
    });
    parser.on('error', fail);
    source.on('error', fail);
    parser.on('end', () => {
      chain.then(
        () => (failure === undefined ? resolve() : undefined),
        fail,
      );
    });
  });
  source.pipe(parser as unknown as NodeJS.WritableStream);
  try {
    await done;
  } catch (err) {
    throw asArchiveError(err, 'tar');
  }
}

async function handleEntry(entry: ReadEntry, guard: ExtractionGuard): Promise<void> {
  const name = entry.path;
  if (LINK_TYPES.has(entry.type)) {
    throw new InvalidArchiveError(`Archive entry "${printable(name)}" is a link; links are not allowed.`);
  }
  const isFile = FILE_TYPES.has(entry.type);
  if (!isFile && !DIRECTORY_TYPES.has(entry.type)) {
    throw new InvalidArchiveError(
      `Archive entry "${printable(name)}" is not a regular file or directory (tar type ${entry.type}).`,
    );
  }
  const target = guard.addEntry(name, isFile ? 'file' : 'directory');
  if (target === null || !isFile) {
    entry.resume();
    if (target !== null) await makeEntryDirectory(target);
    return;
  }
  guard.claimBytes(entry.size);
  await writeEntryFile(guard, target, async () => entry as unknown as AsyncIterable<Buffer>);
}
