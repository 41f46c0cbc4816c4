/**
 * Issue #8, black box: the access log of the real CLI (spec §12; docs/logging.md). Exactly one
 * line per request on every listener, in TorchServe's layout plus the request id, and never a
 * credential: not the keys of key_file.json (in headers or in the query string), not a user's
 * password (in a Basic header, a JSON body or the query string).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { httpRequest, makeWorkspace, readKeyFile, REPO_ROOT, startBackground, type HttpResponse } from '../helpers/tsserve.js';
import { clientFor, eventually, waitModelsReady } from './inference-support.js';

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);
const PASSWORD = 'alice-Pa55word-e2e';
const WRONG_PASSWORD = 'not-alice-Gu3ss';
/** `<time> - /127.0.0.1:<port> "<METHOD> <URI> HTTP/1.1" <status> <ms> reqId=<id>` */
const ACCESS_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3} - \/127\.0\.0\.1:\d+ "([A-Z]+) (\S+) HTTP\/1\.1" (\d{3}) (\d+) reqId=([A-Za-z0-9._:-]+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('one access line per request, in TorchServe layout with the request id, and no credential in any log', async (t) => {
  const ws = makeWorkspace(t);
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
  const server = await startBackground(t, ws, ['--models', 'iris=iris.mar']);
  const c = clientFor(ws, server);
  await waitModelsReady(c, ['iris']);
  const keys = readKeyFile(ws);
  const created = await c.manage('/_plugins/_security/api/internalusers/alice', {
    method: 'PUT',
    body: JSON.stringify({ password: PASSWORD, backend_roles: [] }),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(created.status, 201, created.text);

  const accessFile = path.join(ws.dir, 'logs', 'access_log.log');
  const lines = () => fs.readFileSync(accessFile, 'utf8').split('\n').filter((l) => l !== '');
  // Everything so far (startup polls, the user) is in the file once the server is idle.
  await new Promise((r) => setTimeout(r, 200));
  const before = lines().length;

  const sent: { what: string; res: HttpResponse; method: string; uri: string }[] = [];
  const send = async (what: string, method: string, base: string, uri: string, opts: { headers?: Record<string, string>; body?: string } = {}) => {
    const res = await httpRequest(`${base}${uri}`, { method, ...opts });
    sent.push({ what, res, method, uri });
    return res;
  };
  const inf = { authorization: `Bearer ${keys.inference.key}` };
  const mgmt = { authorization: `Bearer ${keys.management.key}` };
  const json = { 'content-type': 'application/json' };

  assert.equal((await send('prediction', 'POST', c.inference, '/predictions/iris', { headers: { ...inf, ...json, 'x-request-id': 'client-req-1' }, body: IRIS_INPUT })).status, 200);
  assert.equal((await send('key in query', 'GET', c.management, `/models?limit=5&key=${keys.management.key}`, { headers: mgmt })).status, 200);
  assert.equal((await send('token and password in query', 'GET', c.inference, `/predictions/iris?token=${keys.inference.key}&password=${PASSWORD}`)).status, 400);
  assert.equal((await send('api key in query', 'GET', c.management, `/models?api_key=${keys.API.key}&access_token=${keys.management.key}`, { headers: mgmt })).status, 200);
  assert.ok([200, 403].includes((await send('basic user', 'GET', c.management, '/models', { headers: basic('alice', PASSWORD) })).status));
  assert.equal((await send('basic wrong password', 'GET', c.management, '/models', { headers: basic('alice', WRONG_PASSWORD) })).status, 401);
  assert.equal((await send('password change', 'PUT', c.management, '/_plugins/_security/api/internalusers/alice', { headers: { ...mgmt, ...json }, body: JSON.stringify({ password: WRONG_PASSWORD }) })).status, 200);
  assert.equal((await send('metrics', 'GET', server.addresses.metrics!, '/metrics')).status, 200);
  assert.equal((await send('wrong method', 'PATCH', c.management, '/models', { headers: mgmt })).status, 405);
  assert.equal((await send('unknown path', 'GET', c.inference, '/nowhere', { headers: inf })).status, 404);
  assert.equal((await send('ping, unsafe id', 'GET', c.inference, '/ping', { headers: { 'x-request-id': 'not a sane id' } })).status, 200);
  // Not HTTP at all: answered 400 and logged as TorchServe does.
  const garbage = await new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(c.inference);
    const socket = net.connect(Number(port), hostname, () => socket.write(`NOT HTTP ${keys.inference.key}\r\n\r\n`));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer to malformed HTTP')));
  });
  assert.match(garbage, /^HTTP\/1\.1 400 /);

  // Exactly one new line per request: wait for them, then make sure no more come.
  await eventually('the access lines', async () => lines().length >= before + sent.length + 1, 5000, 50);
  await new Promise((r) => setTimeout(r, 300));
  const added = lines().slice(before);
  assert.equal(added.length, sent.length + 1, added.join('\n'));
  assert.equal(added.filter((l) => / "GET \/bad-request HTTP\/1\.1" 400 0 reqId=[0-9a-f-]{36}$/.test(l)).length, 1, 'the malformed request');

  for (const line of added) assert.match(line, ACCESS_LINE);
  const parsed = added.map((l) => ACCESS_LINE.exec(l)!);
  for (const { what, res, method, uri } of sent) {
    const id = String(res.headers['x-request-id']);
    assert.match(id, /^[A-Za-z0-9._:-]{1,128}$/, `${what}: x-request-id`);
    const mine = parsed.filter((m) => m[5] === id);
    assert.equal(mine.length, 1, `${what}: one line with reqId=${id}`);
    const [, m, loggedUri, status] = mine[0]!;
    assert.equal(m, method, what);
    assert.equal(Number(status), res.status, what);
    assert.equal(loggedUri!.split('?')[0], uri.split('?')[0], what);
  }
  assert.equal(sent[0]!.res.headers['x-request-id'], 'client-req-1', 'a sane client id is kept');
  assert.match(String(sent.at(-1)!.res.headers['x-request-id']), UUID, 'an unsafe one is replaced by a UUID');

  // Query values that carry credentials are redacted; harmless ones stay.
  const text = added.join('\n');
  assert.match(text, /"GET \/models\?limit=5&key=\[REDACTED\] HTTP\/1\.1" 200 /);
  assert.match(text, /"GET \/predictions\/iris\?token=\[REDACTED\]&password=\[REDACTED\] HTTP\/1\.1" 400 /);
  assert.match(text, /"GET \/models\?api_key=\[REDACTED\]&access_token=\[REDACTED\] HTTP\/1\.1" 200 /);

  // No credential in any log file, in any encoding a header would carry it.
  await server.stop();
  const secrets = [
    keys.management.key,
    keys.inference.key,
    keys.API.key,
    PASSWORD,
    WRONG_PASSWORD,
    basic('alice', PASSWORD).authorization.slice('Basic '.length),
    basic('alice', WRONG_PASSWORD).authorization.slice('Basic '.length),
  ];
  const logDir = path.join(ws.dir, 'logs');
  const files = fs.readdirSync(logDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  assert.ok(files.some((f) => f.name === 'access_log.log') && files.some((f) => f.name === 'ts_log.log'));
  for (const f of files) {
    const content = fs.readFileSync(path.join(f.parentPath, f.name), 'utf8');
    for (const secret of secrets) assert.ok(!content.includes(secret), `${f.name} contains a credential (${secret.slice(0, 4)}...)`);
  }
});
