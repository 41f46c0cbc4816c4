/**
 * Registration from URLs (spec §6.2, issue #6): only URLs fully matching allowed_urls are ever
 * fetched (a local listener proves that nothing else even connects), downloads are capped and
 * atomic, and a failure leaves nothing in the model store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NO_PRINCIPAL } from '../../../src/auth/principal.js';
import { isTsServeError } from '../../../src/errors.js';
import { allowedUrlMatcher, deriveModelName, lastPathSegment, looksLikeUrl } from '../../../src/registry/location.js';
import { buildMar } from '../../fixtures/archive-builder.js';
import { setup } from './fakes.js';

type Served = { status?: number; body?: Buffer; location?: string; contentLength?: number };

/** A loopback HTTP server that counts connections and records request paths. */
async function server(t: { after(fn: () => unknown): void }, routes: Record<string, Served>) {
  const seen = { connections: 0, paths: [] as string[] };
  const srv = http.createServer((req, res) => {
    seen.paths.push(req.url ?? '');
    const r = routes[req.url ?? ''] ?? { status: 404, body: Buffer.from('nope') };
    const headers: Record<string, string | number> = {};
    if (r.location) headers.location = r.location;
    if (r.contentLength !== undefined) headers['content-length'] = r.contentLength;
    res.writeHead(r.status ?? 200, headers);
    res.end(r.body ?? '');
  });
  srv.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { base, seen };
}

async function failure(p: Promise<unknown>): Promise<{ status: number; type: string; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isTsServeError(err), String(err));
    return { status: err.status, type: err.type, message: err.message };
  }
  assert.fail('expected a rejection');
}

const allowLoopback = { allowed_urls: 'http://127\\.0\\.0\\.1:\\d+/ok/.*' };

test('a URL outside allowed_urls (default: none) is 404 and no connection is made', async (t) => {
  const { base, seen } = await server(t, { '/add.mar': { body: await buildMar() } });
  const h = await setup(t);
  const url = `${base}/add.mar`;
  assert.deepEqual(await failure(h.registry.register({ url }, NO_PRINCIPAL)), {
    status: 404,
    type: 'ModelNotFoundException',
    message: `Given URL ${url} does not match any allowed URL(s)`,
  });
  const fileUrl = pathToFileURL(path.join(h.dir, 'x.mar')).href;
  assert.equal((await failure(h.registry.register({ url: fileUrl }, NO_PRINCIPAL))).message, `Given URL ${fileUrl} does not match any allowed URL(s)`);
  // Allowed pattern, but this URL does not match it in full.
  const h2 = await setup(t, allowLoopback);
  assert.equal((await failure(h2.registry.register({ url: `${base}/add.mar` }, NO_PRINCIPAL))).status, 404);
  assert.equal((await failure(h2.registry.register({ url: `HTTP://127.0.0.1:1/ok/x.mar/../../add.mar` }, NO_PRINCIPAL))).message, `Relative path is not allowed in url: HTTP://127.0.0.1:1/ok/x.mar/../../add.mar`);
  assert.equal(seen.connections, 0);
  assert.deepEqual(await readdir(h.store), []);
});

test('an allowed http URL is downloaded into the store, served, and deleted on unregister', async (t) => {
  const { base, seen } = await server(t, { '/ok/add.mar': { body: await buildMar() } });
  const h = await setup(t, { ...allowLoopback, enable_model_api: 'true' });
  const url = `${base}/ok/add.mar`;
  const r = await h.registry.register({ url, initialWorkers: 1 }, NO_PRINCIPAL);
  assert.equal(r.message, 'Model "add" Version: 1.0 registered with 1 initial workers');
  assert.deepEqual(seen.paths, ['/ok/add.mar']);
  assert.deepEqual(await readdir(h.store), ['add.mar']);
  assert.equal(h.registry.get('add').url, url);
  assert.deepEqual(await h.registry.list(), { models: [{ modelName: 'add', modelUrl: url }] });

  // The file is in the store now: registering the URL again is TorchServe's 500 (QUIRK kept).
  assert.deepEqual(await failure(h.registry.register({ url, modelName: 'other' }, NO_PRINCIPAL)), {
    status: 500,
    type: 'InternalServerException',
    message: 'Model file already exists add.mar',
  });
  assert.deepEqual(seen.paths, ['/ok/add.mar'], 'no second download');

  await h.registry.unregister('add');
  assert.deepEqual(await readdir(h.store), [], 'a downloaded archive goes with its model');
});

test('download failures are 400 DownloadArchiveException and leave nothing in the store', async (t) => {
  const mar = await buildMar();
  const { base, seen } = await server(t, {
    '/ok/big.mar': { body: mar },
    '/ok/lying.mar': { body: mar, contentLength: 10 },
    '/ok/garbage.mar': { body: Buffer.from('this is not a zip') },
    '/ok/redirect.mar': { status: 302, location: '/elsewhere/add.mar' },
    '/ok/good-redirect.mar': { status: 302, location: '/ok/add.mar' },
    '/ok/add.mar': { body: mar },
    '/elsewhere/add.mar': { body: mar },
  });
  const h = await setup(t, { ...allowLoopback, max_download_size: String(mar.length - 1) });
  const cases: [string, RegExp][] = [
    [`${base}/ok/missing.mar`, /\(HTTP 404\)$/],
    [`${base}/ok/big.mar`, /larger than max_download_size/],
    [`${base}/ok/redirect.mar`, /does not match any allowed URL/],
    [`${base}/ok/`, /does not end in a file name/],
  ];
  for (const [url, detail] of cases) {
    const f = await failure(h.registry.register({ url }, NO_PRINCIPAL));
    assert.equal(f.status, 400, `${url}: ${f.message}`);
    assert.equal(f.type, 'DownloadArchiveException');
    assert.ok(f.message.startsWith(`Failed to download archive from: ${url}`), f.message);
    assert.match(f.message, detail);
  }
  assert.ok(!seen.paths.includes('/elsewhere/add.mar'), 'a redirect outside allowed_urls is not followed');
  // A body longer than its Content-Length / the cap is cut off too.
  assert.equal((await failure(h.registry.register({ url: `${base}/ok/lying.mar` }, NO_PRINCIPAL))).status, 400);

  // A completed download that is not a model archive is removed again.
  const h2 = await setup(t, allowLoopback);
  const bad = await failure(h2.registry.register({ url: `${base}/ok/garbage.mar` }, NO_PRINCIPAL));
  assert.equal(bad.status, 400);
  assert.deepEqual(await readdir(h2.store), []);
  // A redirect inside allowed_urls is followed.
  await h2.registry.register({ url: `${base}/ok/good-redirect.mar`, initialWorkers: 0 }, NO_PRINCIPAL);
  assert.deepEqual(await readdir(h2.store), ['good-redirect.mar']);

  assert.deepEqual(await readdir(h.store), [], 'no partial or temporary files');
});

test('a download timeout fails cleanly', async (t) => {
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('x');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise<void>((resolve) => srv.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/ok/slow.mar`;
  const h = await setup(t, allowLoopback, { download: { idleTimeoutMs: 100, timeoutMs: 5000 } });
  const f = await failure(h.registry.register({ url }, NO_PRINCIPAL));
  assert.equal(f.status, 400);
  assert.deepEqual(await readdir(h.store), []);
});

test('an allowed file:// URL is copied into the store', async (t) => {
  const h = await setup(t, { allowed_urls: 'file://.*' });
  const source = path.join(h.dir, 'src-add.mar');
  await writeFile(source, await buildMar());
  const url = pathToFileURL(source).href;
  await h.registry.register({ url, initialWorkers: 0 }, NO_PRINCIPAL);
  assert.deepEqual(await readdir(h.store), ['src-add.mar']);
});

test('location helpers', () => {
  assert.equal(looksLikeUrl('HTTPS://x/y.mar'), true);
  assert.equal(looksLikeUrl('file:///x.mar'), true);
  assert.equal(looksLikeUrl('s3://x/y.mar'), false);
  assert.equal(looksLikeUrl('add.mar'), false);
  const allowed = allowedUrlMatcher(['https://models\\.example\\.com/.*']);
  assert.equal(allowed('HTTPS://MODELS.EXAMPLE.COM/a.mar'), true, 'case-insensitive');
  assert.equal(allowed('https://models.example.com.evil.net/a.mar'), false, 'full match only');
  assert.equal(allowed('http://x/?u=https://models.example.com/a.mar'), false);
  assert.equal(lastPathSegment('https://h/a/b.mar?x=1#f'), 'b.mar');
  assert.equal(lastPathSegment('sub/dir/c.mar'), 'c.mar');
  assert.equal(deriveModelName('resnet-18.mar'), 'resnet_18');
  assert.equal(deriveModelName('x.tar.gz'), 'x_tar_gz');
  assert.equal(deriveModelName('https://h/m/noop.model'), 'noop');
  assert.equal(deriveModelName('dir-model'), 'dir_model');
});
