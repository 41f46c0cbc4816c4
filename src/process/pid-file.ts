/**
 * The pid file that makes `tsserve --start` refuse a second server and lets `--stop` find the
 * running one (spec §1.2, §1.4). It holds only the decimal pid, as TorchServe's does.
 *
 * Location: env TS_PID_FILE, else `<os tmpdir>/.tsserve.pid`. A pid counts as a running server only
 * if the process exists and (where /proc is available) its command line looks like tsserve, so a
 * recycled pid is not mistaken for a server (TorchServe checks its own marker the same way).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const PID_FILE_NAME = '.tsserve.pid';

export function pidFilePath(env: Readonly<Record<string, string | undefined>>, tmpdir: string = os.tmpdir()): string {
  const fromEnv = env.TS_PID_FILE;
  return fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : path.join(tmpdir, PID_FILE_NAME);
}

export type PidFileState =
  | { kind: 'none' }
  | { kind: 'running'; pid: number }
  /** The file exists but names no live tsserve process (or cannot be read). */
  | { kind: 'orphan'; pid: number | undefined };

/** Does a process with this pid exist (EPERM counts: it exists but is not ours to signal)? */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Command-line marker of a tsserve server process (bin/tsserve.js or dist/src/main.js). */
const MARKER = /tsserve|main\.js/;

function looksLikeServer(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return MARKER.test(cmdline);
  } catch {
    // No /proc (macOS) or it vanished meanwhile: trust the pid check.
    return isProcessAlive(pid);
  }
}

export function readPidFile(file: string): PidFileState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'orphan', pid: undefined };
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { kind: 'orphan', pid: undefined };
  if (pid === process.pid) return { kind: 'running', pid };
  return looksLikeServer(pid) ? { kind: 'running', pid } : { kind: 'orphan', pid };
}

export class AlreadyRunningError extends Error {
  readonly pid: number;
  constructor(pid: number) {
    super('TSServe is already running, please use tsserve --stop to stop TSServe.');
    this.name = 'AlreadyRunningError';
    this.pid = pid;
  }
}

/**
 * Claims the pid file for `pid`: refuses if a live server holds it, replaces an orphan (calling
 * `onOrphan` first). Creation is exclusive, so two servers starting at once cannot both win.
 */
export function acquirePidFile(file: string, pid: number, onOrphan: () => void = () => {}): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    const state = readPidFile(file);
    if (state.kind === 'running' && state.pid !== pid) throw new AlreadyRunningError(state.pid);
    if (state.kind === 'orphan') {
      onOrphan();
      fs.rmSync(file, { force: true });
    }
    if (state.kind === 'running') return; // already ours
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `${pid}`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Someone else created it between our read and write: look again.
    }
  }
  const state = readPidFile(file);
  throw new AlreadyRunningError(state.kind === 'running' ? state.pid : 0);
}

/** Removes the pid file if it still names `pid` (never another server's file). */
export function releasePidFile(file: string, pid: number): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(pid)) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}

/** Polls until the process is gone or the timeout passes; true if it exited. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid) && !isZombie(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}

/** An exited child not yet reaped by its parent still answers kill(0); /proc says it is a zombie. */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
