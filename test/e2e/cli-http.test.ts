import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { httpRequest, makeWorkspace, runTsserve, startBackground } from '../helpers/tsserve.js';

const NOT_FOUND = '{\n  "code": 404,\n  "type": "ResourceNotFoundException",\n  "message": "Requested resource is not found, please refer to API document."\n}\n';

test('HTTP conventions on the real listeners: 404, 405, 413, x-request-id, headers, access log', async (t) => {
  const ws = makeWorkspace(t, { max_request_size: '1000', cors_allowed_origin: 'https://app.example' });
  const server = await startBackground(t, ws, ['--dt', '--ncs']);
  const { inference, management, metrics } = server.addresses;

  for (const base of [inference, management, metrics!]) {
    const res = await httpRequest(`${base}/no/such/path`);
    assert.equal(res.status, 404, base);
    assert.equal(res.text, NOT_FOUND);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(res.headers['cache-control'], 'no-cache; no-store, must-revalidate, private');
  }

  const wrong = await httpRequest(`${management}/models`, { method: 'PATCH' });
  assert.equal(wrong.status, 405);
  assert.deepEqual(wrong.json(), { code: 405, type: 'MethodNotAllowedException', message: 'Requested method is not allowed, please refer to API document.' });

  const big = await httpRequest(`${inference}/predictions/anything`, { method: 'POST', body: Buffer.alloc(1001, 1), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(big.status, 413);
  assert.deepEqual(big.json(), { code: 413, type: 'PayloadTooLargeException', message: 'Request body exceeds max_request_size of 1000 bytes' });

  const echoed = await httpRequest(`${management}/models`, { headers: { 'x-request-id': 'e2e-req-42' } });
  assert.equal(echoed.headers['x-request-id'], 'e2e-req-42');
  const generated = await httpRequest(`${management}/models`, { headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);

  await server.stop();
  const access = fs.readFileSync(path.join(ws.dir, 'logs/access_log.log'), 'utf8');
  assert.match(access, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3} - \/127\.0\.0\.1:\d+ "GET \/models HTTP\/1\.1" 200 \d+ reqId=e2e-req-42$/m);
  assert.match(access, /"PATCH \/models HTTP\/1\.1" 405 /);
  assert.match(access, /"POST \/predictions\/anything HTTP\/1\.1" 413 /);
});

test('HTTPS listener with a self-signed certificate made in the test', async (t) => {
  const ws = makeWorkspace(t);
  const key = path.join(ws.dir, 'key.pem');
  const cert = path.join(ws.dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore', timeout: 30_000 });

  // https without key and certificate is refused up front.
  ws.writeConfig({ inference_address: 'https://127.0.0.1:0' });
  const refused = await runTsserve(ws, ['--model-store', ws.modelStore, '--dt', '--ncs']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /inference_address: https:\/\/127\.0\.0\.1:0 .* private_key_file and certificate_file/);

  ws.writeConfig({ inference_address: 'https://127.0.0.1:0', private_key_file: key, certificate_file: cert });
  const server = await startBackground(t, ws, ['--dt', '--ncs']);
  assert.match(server.addresses.inference, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(server.addresses.management, /^http:\/\/127\.0\.0\.1:\d+$/);
  const ca = fs.readFileSync(cert);
  const res = await httpRequest(`${server.addresses.inference}/no/such/path`, { ca });
  assert.equal(res.status, 404);
  assert.equal(res.text, NOT_FOUND);
  // An untrusted client fails the handshake.
  await assert.rejects(httpRequest(`${server.addresses.inference}/`, {}), /self[- ]signed|certificate/i);
  await server.stop();
});

test('an unreadable certificate file fails the start with its name', async (t) => {
  const ws = makeWorkspace(t, { management_address: 'https://127.0.0.1:0', private_key_file: 'nokey.pem', certificate_file: 'nocert.pem' });
  const run = await runTsserve(ws, ['--model-store', ws.modelStore, '--dt', '--ncs']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /cannot read private_key_file nokey\.pem: ENOENT/);
});
