/**
 * SHA-256 fingerprints shown in describe output (issue #4, beyond TorchServe).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

async function feedFile(hash: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/** Hex SHA-256 of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await feedFile(hash, file);
  return hash.digest('hex');
}

/** Relative POSIX paths of the regular files under `dir` (links are not followed). */
export async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, child)));
    else if (entry.isFile()) out.push(child);
  }
  return out;
}

/**
 * Hex SHA-256 of a directory tree: for each regular file, sorted by relative POSIX path (JavaScript
 * string order), `path NUL size NUL` and then its contents. Empty directories do not count.
 */
export async function sha256Directory(dir: string): Promise<string> {
  const files = (await listFiles(dir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = createHash('sha256');
  for (const rel of files) {
    const full = path.join(dir, ...rel.split('/'));
    hash.update(`${rel}\0${(await stat(full)).size}\0`);
    await feedFile(hash, full);
  }
  return hash.digest('hex');
}
