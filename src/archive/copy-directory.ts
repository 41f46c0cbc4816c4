/**
 * A registered directory (`no-archive`, spec §6.2 step 7) is copied into the private directory so
 * the files cannot change under a running model, with the same limits as an archive. Symbolic links
 * are followed only when they stay inside the directory; devices, FIFOs and sockets are refused.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArchiveError } from '../errors.js';
import { type ExtractionGuard, makeEntryDirectory, writeEntryFile } from './extraction-guard.js';

export async function copyDirectory(sourceDir: string, guard: ExtractionGuard): Promise<void> {
  const realRoot = await realpath(sourceDir);
  await copyInto(realRoot, realRoot, '', guard, new Set([realRoot]));
}

async function copyInto(
  realRoot: string,
  dir: string,
  relDir: string,
  guard: ExtractionGuard,
  ancestors: Set<string>,
): Promise<void> {
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const full = path.join(dir, name);
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    let info = await lstat(full);
    let real = full;
    if (info.isSymbolicLink()) {
      real = await realpath(full).catch(() => {
        throw new InvalidArchiveError(`Symbolic link "${rel}" in the model directory is broken.`);
      });
      if (!isInside(realRoot, real)) {
        throw new InvalidArchiveError(`Symbolic link "${rel}" points outside the model directory.`);
      }
      info = await stat(real);
    }
    if (info.isDirectory()) {
      if (ancestors.has(real)) {
        throw new InvalidArchiveError(`Symbolic link "${rel}" makes a directory cycle.`);
      }
      const target = guard.addEntry(`${rel}/`, 'directory');
      if (target !== null) await makeEntryDirectory(target);
      await copyInto(realRoot, real, rel, guard, new Set([...ancestors, real]));
    } else if (info.isFile()) {
      const target = guard.addEntry(rel, 'file');
      if (target === null) continue;
      guard.claimBytes(info.size);
      await writeEntryFile(guard, target, async () => createReadStream(real));
    } else {
      throw new InvalidArchiveError(`"${rel}" in the model directory is not a regular file or directory.`);
    }
  }
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
