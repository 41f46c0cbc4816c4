/**
 * key_file.json (spec §4.2): where the operator reads the current keys. Written atomically so a
 * reader never sees half a file, readable by its owner only, deleted when the server stops.
 *
 *   write tmp (O_EXCL, 0600) -> fsync -> rename over key_file.json -> fsync dir
 *
 * A key file left by a crashed run is never read: rename replaces it (and if it is a symlink, the
 * link itself is replaced, its target is never written).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const KEY_FILE_NAME = 'key_file.json';

export type ExpiringKey = { key: string; 'expiration time': string };

/** The file's content, in TorchServe's key order (the space in "expiration time" and "API" are wire names). */
export type KeyFileContent = {
  management: ExpiringKey;
  inference: ExpiringKey;
  API: { key: string };
};

/** Pretty JSON, 2-space indent, keys in TorchServe's order whatever order the input object has. */
export function formatKeyFile(content: KeyFileContent): string {
  const ordered = {
    management: { key: content.management.key, 'expiration time': content.management['expiration time'] },
    inference: { key: content.inference.key, 'expiration time': content.inference['expiration time'] },
    API: { key: content.API.key },
  };
  return JSON.stringify(ordered, null, 2) + '\n';
}

/**
 * Atomically (re)places `filePath` with `content`, mode 0600. Throws if the file cannot be written
 * or its permissions cannot be restricted; no temp file is left behind on failure.
 */
export async function writeKeyFile(filePath: string, content: KeyFileContent): Promise<void> {
  const dir = path.dirname(filePath);
  const tmp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' = O_CREAT|O_EXCL: never follows or reuses an existing path.
  const fh = await open(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      // The umask can only clear bits, but be explicit: group/other must have nothing.
      await fh.chmod(0o600);
      const st = await fh.stat();
      if ((st.mode & 0o077) !== 0) throw new Error(`cannot restrict permissions of ${tmp}`);
      await fh.writeFile(formatKeyFile(content), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, filePath);
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => {});
  }
}

/** Removes the key file; a missing file is fine. */
export async function deleteKeyFile(filePath: string): Promise<void> {
  try {
    await unlink(filePath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Makes the rename durable. Best effort: some platforms/filesystems refuse fsync on a directory. */
async function syncDir(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // Not supported here (e.g. Windows); the rename itself is still atomic.
  } finally {
    await dh?.close().catch(() => {});
  }
}
