/**
 * Downloading a registration URL into the model store (spec §6.2 step 5), only ever called for a
 * URL that fully matches `allowed_urls`. The bytes stream into a hidden temporary file next to the
 * target, capped at `max_download_size` and bounded in time; only a complete download is linked
 * into place (no-clobber), so a failure leaves nothing behind and two concurrent downloads of the
 * same name cannot overwrite each other.
 *
 *   GET url ──(3xx: target must match allowed_urls too)──► 200 ──► .<name>.<rand>.part ──link──► <name>
 *            └─ other status / too big / timeout / I/O error ──► unlink .part, DownloadArchiveError
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, constants as fsConstants, link, lstat, stat, unlink } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DownloadArchiveError, InternalServerError, isTsServeError } from '../errors.js';

export type DownloadOptions = {
  /** `max_download_size`. */
  maxBytes: number;
  /** Whole download, from the first request to the last byte. */
  timeoutMs: number;
  /** Longest silence on the socket. */
  idleTimeoutMs: number;
  /** Redirect targets must pass this too (allowed_urls), else the download fails. */
  isAllowed: (url: string) => boolean;
  maxRedirects: number;
};

export const MODEL_FILE_EXISTS = 'MODEL_FILE_EXISTS';

/** TorchServe's 500 for a download target that already exists (spec §6.2, QUIRK kept). */
export function modelFileExistsError(fileName: string): InternalServerError {
  return new InternalServerError(`Model file already exists ${fileName}`, 500, MODEL_FILE_EXISTS);
}

/**
 * Downloads `url` to `target` (an absolute path in the model store). Throws modelFileExistsError
 * when `target` exists (before or after the transfer) and DownloadArchiveError for anything else.
 */
export async function downloadArchive(url: string, target: string, opts: DownloadOptions): Promise<void> {
  const fileName = path.basename(target);
  if (await exists(target)) throw modelFileExistsError(fileName);
  const temp = path.join(path.dirname(target), `.${fileName}.${randomBytes(6).toString('hex')}.part`);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  timer.unref();
  try {
    const source = await openSource(url, opts, abort.signal);
    await pipeline(source, limitBytes(opts.maxBytes), createWriteStream(temp, { flags: 'wx', mode: 0o644 }), {
      signal: abort.signal,
    });
    await linkNoClobber(temp, target, fileName);
  } catch (err) {
    if (isTsServeError(err) && err.code === MODEL_FILE_EXISTS) throw err;
    const detail = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? 'aborted') : errorDetail(err);
    throw new DownloadArchiveError(url, detail);
  } finally {
    clearTimeout(timer);
    await unlink(temp).catch(() => undefined);
  }
}

async function openSource(url: string, opts: DownloadOptions, signal: AbortSignal): Promise<Readable> {
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    if (current.protocol === 'file:') {
      const file = fileURLToPath(current);
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
      if (info.size > opts.maxBytes) throw new Error(`larger than max_download_size (${opts.maxBytes} bytes)`);
      return createReadStream(file);
    }
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new Error(`unsupported protocol ${current.protocol}`);
    const res = await get(current, opts, signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (redirects >= opts.maxRedirects) throw new Error('too many redirects');
      const next = new URL(res.headers.location, current);
      // A redirect must not lead anywhere allowed_urls would refuse (no SSRF through 3xx).
      if (!opts.isAllowed(next.href)) throw new Error(`redirect to ${next.href} does not match any allowed URL(s)`);
      current = next;
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new Error(`HTTP ${status}`);
    }
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length > opts.maxBytes) {
      res.destroy();
      throw new Error(`larger than max_download_size (${opts.maxBytes} bytes)`);
    }
    return res;
  }
}

function get(url: URL, opts: DownloadOptions, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, { signal, headers: { 'user-agent': 'tsserve', accept: '*/*' } }, resolve);
    req.setTimeout(opts.idleTimeoutMs, () => req.destroy(new Error(`no data for ${opts.idleTimeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Fails the stream as soon as more than `maxBytes` went through (Content-Length may be absent or lie). */
function limitBytes(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) cb(new Error(`larger than max_download_size (${maxBytes} bytes)`));
      else cb(null, chunk);
    },
  });
}

/** Puts the finished file in place unless `target` appeared meanwhile (link and COPYFILE_EXCL never overwrite). */
async function linkNoClobber(temp: string, target: string, fileName: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw modelFileExistsError(fileName);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw err;
    try {
      await copyFile(temp, target, fsConstants.COPYFILE_EXCL);
    } catch (copyErr) {
      if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') throw modelFileExistsError(fileName);
      await unlink(target).catch(() => undefined);
      throw copyErr;
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

function errorDetail(err: unknown): string {
  if (isTsServeError(err)) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
