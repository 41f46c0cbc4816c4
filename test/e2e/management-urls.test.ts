/**
 * Black-box proof of issue #6's URL rules (spec §6.2, docs/compatibility.md): with the default
 * `allowed_urls` the server never connects anywhere for a client (a listener in the test counts
 * connections); with a matching `allowed_urls` it downloads, capped by `max_download_size`, and a
 * failed download or registration leaves nothing in the model store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildMar } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, startBackground } from '../helpers/tsserve.js';

type After = { after(fn: () => unknown): void };

type Listener = { base: string; connections: () => number; paths: string[] };

/** A loopback HTTP server standing in for a model repository; it records every connection and path. */
async function startListener(t: After, archive: Buffer): Promise<Listener> {
  let connections = 0;
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    const port = (server.address() as AddressInfo).port;
    switch (req.url) {
      case '/add.mar':
      case '/other/add.mar':
      case '/fresh.mar':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': archive.length });
        res.end(archive);
        return;
      case '/big.mar':
        res.writeHead(200, { 'content-length': 300_000 });
        res.end(Buffer.alloc(300_000, 1));
        return;
      case '/big-chunked.mar': {
        // No Content-Length: the cap must be enforced while streaming.
        res.writeHead(200);
        for (let i = 0; i < 30; i++) res.write(Buffer.alloc(10_000, 2));
        res.end();
        return;
      }
      case '/garbage.mar':
        res.writeHead(200);
        res.end('this is not a model archive');
        return;
      case '/redirect.mar':
        // localhost does not match the allowed 127\.0\.0\.1 pattern: the redirect must not be followed.
        res.writeHead(302, { location: `http://localhost:${port}/add.mar` });
        res.end();
        return;
      default:
        res.writeHead(404);
        res.end('not found');
    }
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, paths };
}

/** Everything in the store, hidden temporary files included. */
function storeListing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

function register(mgmt: string, url: string, extra = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  return httpRequest(`${mgmt}/models?url=${encodeURIComponent(url)}${extra}`, { method: 'POST' }).then((r) => ({ status: r.status, body: r.json() }));
}

test('default allowed_urls: a URL is refused with 404 and no connection is ever made', async (t) => {
  const listener = await startListener(t, await buildMar());
  const ws = makeWorkspace(t);
  fs.writeFileSync(path.join(ws.modelStore, 'add.mar'), await buildMar());
  const server = await startBackground(t, ws, ['--dt', '--enable-model-api', '--ncs']);
  const mgmt = server.addresses.management;
  const store = storeListing(ws.modelStore);

  for (const url of [`${listener.base}/x.mar`, `${listener.base}/add.mar`, `HTTP://127.0.0.1:${new URL(listener.base).port}/add.mar`, `file://${ws.modelStore}/add.mar`]) {
    assert.deepEqual(await register(mgmt, url, '&initial_workers=1'), {
      status: 404,
      body: { code: 404, type: 'ModelNotFoundException', message: `Given URL ${url} does not match any allowed URL(s)` },
    }, url);
  }
  assert.equal(listener.connections(), 0, 'the listener saw no connection');
  assert.deepEqual(listener.paths, []);
  assert.deepEqual(storeListing(ws.modelStore), store);
  assert.deepEqual((await httpRequest(`${mgmt}/models`)).json(), { models: [] });
  // A plain name in the store still registers.
  assert.equal((await register(mgmt, 'add.mar', '&initial_workers=0')).status, 200);
  assert.equal(listener.connections(), 0);
});

test('allowed_urls: a matching URL is downloaded and served; failed downloads leave nothing behind', async (t) => {
  const archive = await buildMar();
  const listener = await startListener(t, archive);
  const ws = makeWorkspace(t, {
    // Java properties: "\\" is one backslash, so the regex is http://127\.0\.0\.1:\d+/.*
    allowed_urls: String.raw`http://127\\.0\\.0\\.1:\\d+/.*`,
    max_download_size: '100000',
  });
  const server = await startBackground(t, ws, ['--dt', '--enable-model-api', '--ncs']);
  const mgmt = server.addresses.management;
  const empty = storeListing(ws.modelStore);
  assert.deepEqual(empty, []);

  const url = `${listener.base}/add.mar`;
  assert.deepEqual(await register(mgmt, url, '&initial_workers=1'), {
    status: 200,
    body: { status: 'Model "add" Version: 1.0 registered with 1 initial workers' },
  });
  assert.deepEqual(listener.paths, ['/add.mar']);
  assert.deepEqual(storeListing(ws.modelStore), ['add.mar'], 'downloaded under its last path segment');
  assert.deepEqual(fs.readFileSync(path.join(ws.modelStore, 'add.mar')), archive);
  const predicted = await httpRequest(`${server.addresses.inference}/predictions/add`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [[1, 2, 3, 4]] }),
  });
  assert.equal(predicted.status, 200, predicted.text);
  assert.deepEqual(predicted.json<unknown[]>().flat(2), [2, 3, 4, 5]);
  assert.deepEqual((await httpRequest(`${mgmt}/models`)).json(), { models: [{ modelName: 'add', modelUrl: url }] });
  assert.equal((await httpRequest(`${mgmt}/models/add`)).json<{ modelUrl: string }[]>()[0].modelUrl, url);

  // TorchServe's quirk, kept: the same file name in the store is a 500, and nothing is fetched.
  const before = listener.paths.length;
  assert.deepEqual(await register(mgmt, `${listener.base}/other/add.mar`, '&model_name=add2&initial_workers=0'), {
    status: 500,
    body: { code: 500, type: 'InternalServerException', message: 'Model file already exists add.mar' },
  });
  assert.equal(listener.paths.length, before);

  const failures: [string, string][] = [
    [`${listener.base}/missing.mar`, 'HTTP 404'],
    [`${listener.base}/big.mar`, 'larger than max_download_size (100000 bytes)'],
    [`${listener.base}/big-chunked.mar`, 'larger than max_download_size (100000 bytes)'],
    [`${listener.base}/redirect.mar`, `redirect to http://localhost:${new URL(listener.base).port}/add.mar does not match any allowed URL(s)`],
  ];
  for (const [failing, reason] of failures) {
    assert.deepEqual(await register(mgmt, failing, '&initial_workers=0'), {
      status: 400,
      body: { code: 400, type: 'DownloadArchiveException', message: `Failed to download archive from: ${failing} (${reason})` },
    }, failing);
    assert.deepEqual(storeListing(ws.modelStore), ['add.mar'], `${failing}: nothing left in the store`);
  }
  // One request each; the refused redirect was not followed (it would have fetched /add.mar again).
  assert.deepEqual(listener.paths, ['/add.mar', '/missing.mar', '/big.mar', '/big-chunked.mar', '/redirect.mar']);

  // A complete download that is not a model: the registration fails and the file goes again.
  const garbage = await register(mgmt, `${listener.base}/garbage.mar`, '&initial_workers=0');
  assert.equal(garbage.status, 400, JSON.stringify(garbage.body));
  assert.equal(garbage.body.type, 'InvalidModelException');
  assert.deepEqual(storeListing(ws.modelStore), ['add.mar']);

  // Unregistering a downloaded model deletes its file (spec §6.2 step 10); it can then come again.
  assert.equal((await httpRequest(`${mgmt}/models/add`, { method: 'DELETE' })).status, 200);
  assert.deepEqual(storeListing(ws.modelStore), []);
  assert.equal((await register(mgmt, `${listener.base}/fresh.mar`, '&initial_workers=0')).status, 200);
  assert.deepEqual(storeListing(ws.modelStore), ['fresh.mar']);
});
