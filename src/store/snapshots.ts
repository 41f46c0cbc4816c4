/**
 * Config snapshots (spec §11): `{LOG_LOCATION}/config/<yyyyMMddHHmmssSSS>-<type>.cfg`, a Java
 * properties file holding every configuration property plus `model_snapshot`, the JSON list of
 * registered model versions that a restart restores.
 *
 * Beyond TorchServe:
 * - files are written atomically (hidden temp file, fsync, no-clobber link, fsync of the directory),
 *   so the loader never sees half a snapshot;
 * - writes are serialised and their time stamps strictly increase: two snapshots in the same
 *   millisecond get consecutive stamps instead of TorchServe's "file exists, snapshot skipped",
 *   which could lose the newest state.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, lstat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { formatProperties } from '../config/properties.js';
import type { Logger } from '../logger.js';

export type SnapshotType = 'startup' | 'snapshot' | 'shutdown';

/** One model version in `model_snapshot.models[name][version]` (spec §11; field order kept). */
export type SnapshotModelVersion = {
  defaultVersion: boolean;
  marName: string;
  minWorkers: number;
  maxWorkers: number;
  batchSize: number;
  maxBatchDelay: number;
  responseTimeout: number;
  startupTimeout: number;
  runtimeType: string;
  /** Beyond TorchServe: the model group, so a restart puts the version back into it. */
  modelGroupId?: string;
};

export type SnapshotModels = Record<string, Record<string, SnapshotModelVersion>>;

export type ModelSnapshot = {
  name: string;
  modelCount: number;
  created: number;
  models: SnapshotModels;
};

export interface SnapshotWriter {
  /** Writes one snapshot; resolves with its path, or undefined when it could not be written (logged). */
  write(type: SnapshotType, models: SnapshotModels): Promise<string | undefined>;
}

export type SnapshotsOptions = {
  /** `{logDir}/config`. */
  dir: string;
  /** Every configuration property as a string (Config.properties). */
  properties: Readonly<Record<string, string>>;
  log: Logger;
  /** Clock, for tests. */
  now?: () => Date;
};

export class Snapshots implements SnapshotWriter {
  private readonly dir: string;
  private readonly properties: Readonly<Record<string, string>>;
  private readonly log: Logger;
  private readonly now: () => Date;
  private chain: Promise<unknown> = Promise.resolve();
  private lastStampMs = 0;

  constructor(opts: SnapshotsOptions) {
    this.dir = opts.dir;
    this.properties = opts.properties;
    this.log = opts.log;
    this.now = opts.now ?? (() => new Date());
  }

  write(type: SnapshotType, models: SnapshotModels): Promise<string | undefined> {
    // Copy now: the caller's state may change before this write's turn comes.
    const frozen = structuredClone(models);
    const result = this.chain.then(() => this.writeNow(type, frozen));
    this.chain = result;
    return result;
  }

  /** Resolves when every queued write has finished. */
  async close(): Promise<void> {
    await this.chain;
  }

  private async writeNow(type: SnapshotType, models: SnapshotModels): Promise<string | undefined> {
    try {
      await mkdir(this.dir, { recursive: true });
      let stampMs = Math.max(this.now().getTime(), this.lastStampMs + 1);
      for (let attempt = 0; attempt < 1000; attempt++, stampMs++) {
        const date = new Date(stampMs);
        const name = snapshotFileName(date, type);
        const target = path.join(this.dir, name);
        if (await exists(target)) continue;
        const text = formatSnapshot(this.properties, { name, modelCount: countVersions(models), created: stampMs, models }, date);
        if (await writeAtomically(target, text)) {
          this.lastStampMs = stampMs;
          this.log.info({ file: target, type }, 'snapshot written');
          return target;
        }
      }
      throw new Error('no free snapshot file name');
    } catch (err) {
      this.log.error({ err, dir: this.dir, type }, 'snapshot not written');
      return undefined;
    }
  }
}

/** `<yyyyMMddHHmmssSSS>-<type>.cfg`, local time (spec §11). */
export function snapshotFileName(date: Date, type: SnapshotType): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    p(date.getFullYear(), 4) + p(date.getMonth() + 1) + p(date.getDate()) +
    p(date.getHours()) + p(date.getMinutes()) + p(date.getSeconds()) + p(date.getMilliseconds(), 3);
  return `${stamp}-${type}.cfg`;
}

/**
 * The file content: `#Saving snapshot`, a date comment as Java's Date#toString writes it, then every
 * property (sorted by key) with `model_snapshot` as pretty JSON (2-space indent, like Gson).
 */
export function formatSnapshot(properties: Readonly<Record<string, string>>, snapshot: ModelSnapshot, date: Date): string {
  const entries: [string, string][] = Object.entries(properties).filter(([k]) => k !== 'model_snapshot');
  entries.push(['model_snapshot', JSON.stringify(snapshot, null, 2)]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return formatProperties(entries, ['Saving snapshot', javaDateString(date)]);
}

/** `EEE MMM dd HH:mm:ss zzz yyyy`, e.g. `Sat Mar 28 21:54:01 PDT 2020`. */
export function javaDateString(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  let zone = 'UTC';
  try {
    zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date).find((x) => x.type === 'timeZoneName')?.value ?? zone;
  } catch {
    // keep UTC
  }
  return (
    `${days[date.getDay()]} ${months[date.getMonth()]} ${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())} ${zone} ${date.getFullYear()}`
  );
}

function countVersions(models: SnapshotModels): number {
  let n = 0;
  for (const versions of Object.values(models)) n += Object.keys(versions).length;
  return n;
}

/**
 * Writes `text` to a hidden temp file in the same directory, fsyncs it, and links it to `target`
 * without overwriting (false when `target` appeared meanwhile). Falls back to rename where the
 * file system has no hard links.
 */
async function writeAtomically(target: string, text: string): Promise<boolean> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    try {
      await link(temp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
      if (await exists(target)) return false;
      await rename(temp, target);
    }
    await syncDir(dir);
    return true;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every platform can fsync a directory; the file itself is already synced.
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
