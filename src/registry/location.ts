/**
 * Turning a registration `url` into a file or directory inside the model store (spec §6.2).
 *
 *   no model store ───────────────► 404 Model store has not been configured.
 *   ""  ──────────────────────────► 404 empty url
 *   contains ".." ────────────────► 404 Relative path is not allowed in url: <url>
 *   file:// http(s):// URL
 *     fully matches allowed_urls ─► download into <store>/<file name>   (exists: 500, fails: 400)
 *     otherwise ──────────────────► 404 Given URL <url> does not match any allowed URL(s)
 *                                   (no connection is ever made: this closes TorchServe's SSRF hole)
 *   anything else: a name inside the store (realpath must stay inside it, so no symlink or
 *   absolute path leads out) ────► the file / directory, else 404 Model not found at: <url>
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DownloadArchiveError, ModelLocationError } from '../errors.js';
import { downloadArchive, type DownloadOptions } from './download.js';

export type ResolvedLocation = {
  /** Absolute, symlink-free path of the archive file or model directory (inside `modelStore`). */
  path: string;
  /** Symlink-free model store directory. */
  modelStore: string;
  /** File name relative to the model store (snapshot `marName`, spec §11). */
  marName: string;
  /** True when this registration downloaded the file (deleted again on failure and on unregister). */
  downloaded: boolean;
};

export type LocateOptions = {
  modelStore: string | undefined;
  /** `allowed_urls`: regexes a URL must match in full, case-insensitively. */
  allowedUrls: readonly string[];
  download: Omit<DownloadOptions, 'isAllowed'>;
};

const URL_LIKE = /^(?:file|https?):\/\//i;

/** `file://`, `http://` or `https://` (case-insensitive): the strings TorchServe treats as URLs. */
export function looksLikeUrl(location: string): boolean {
  return URL_LIKE.test(location);
}

/** Compiles `allowed_urls` into one predicate (full match, case-insensitive, spec §2.5). */
export function allowedUrlMatcher(allowedUrls: readonly string[]): (url: string) => boolean {
  const patterns = allowedUrls.map((r) => new RegExp(`^(?:${r})$`, 'i'));
  return (url) => patterns.some((p) => p.test(url));
}

/** Last path component of a URL's path, or of a plain location string. */
export function lastPathSegment(location: string): string {
  let p = location;
  if (looksLikeUrl(location)) {
    try {
      p = new URL(location).pathname;
    } catch {
      p = location.replace(URL_LIKE, '').replace(/[?#].*$/, '');
    }
  }
  const parts = p.split(/[/\\]/);
  return parts[parts.length - 1] ?? '';
}

/**
 * Startup name of a location whose manifest has none (spec §6.1): last path segment, extension
 * dropped when the name contains `.mar` or `.model`, every non-word character replaced by `_`
 * (`resnet-18.mar` → `resnet_18`, `x.tar.gz` → `x_tar_gz`).
 */
export function deriveModelName(location: string): string {
  let name = lastPathSegment(location);
  if (name.includes('.mar') || name.includes('.model')) {
    const dot = name.lastIndexOf('.');
    if (dot > 0) name = name.slice(0, dot);
  }
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Resolves (and, for an allowed URL, downloads) a registration location. */
export async function resolveLocation(url: string, opts: LocateOptions): Promise<ResolvedLocation> {
  if (opts.modelStore === undefined || opts.modelStore === '') throw new ModelLocationError('Model store has not been configured.');
  if (url === '') throw new ModelLocationError('empty url');
  if (url.includes('..')) throw new ModelLocationError(`Relative path is not allowed in url: ${url}`);
  const store = await realpath(opts.modelStore).catch(() => {
    throw new ModelLocationError(`Model not found at: ${url}`);
  });

  if (looksLikeUrl(url)) {
    const isAllowed = allowedUrlMatcher(opts.allowedUrls);
    if (!isAllowed(url)) throw new ModelLocationError(`Given URL ${url} does not match any allowed URL(s)`);
    const fileName = downloadFileName(url);
    const target = path.join(store, fileName);
    await downloadArchive(url, target, { ...opts.download, isAllowed });
    return { path: target, modelStore: store, marName: fileName, downloaded: true };
  }

  const lexical = path.resolve(store, url);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new ModelLocationError(`Model not found at: ${url}`);
  }
  if (!isInside(store, real)) throw new ModelLocationError(`Model not found at: ${url}`);
  const info = await stat(real);
  if (!info.isFile() && !info.isDirectory()) throw new ModelLocationError(`Model not found at: ${url}`);
  const marName = isInside(store, lexical) ? path.relative(store, lexical) : path.relative(store, real);
  return { path: real, modelStore: store, marName, downloaded: false };
}

/** Does `<store>/<marName>` exist as a file or directory inside the store (snapshot restore check)? */
export async function existsInStore(modelStore: string, marName: string): Promise<boolean> {
  if (marName === '' || marName.includes('..')) return false;
  try {
    const store = await realpath(modelStore);
    const real = await realpath(path.resolve(store, marName));
    if (!isInside(store, real)) return false;
    await lstat(real);
    return true;
  } catch {
    return false;
  }
}

/** The store file name of a download: the URL's last path segment, percent-decoded, a plain name. */
function downloadFileName(url: string): string {
  let name = lastPathSegment(url);
  try {
    name = decodeURIComponent(name);
  } catch {
    throw new DownloadArchiveError(url, 'malformed file name');
  }
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name) || name.startsWith('.')) {
    throw new DownloadArchiveError(url, 'the URL path does not end in a file name');
  }
  return name;
}

function isInside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
