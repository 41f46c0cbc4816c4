/**
 * The README's quick start, black box: `tsserve --start --foreground --model-store model_store
 * --models iris=iris.mar` on a copy of the repository's model_store, keys from key_file.json, then
 * the calls of "Try it". One server for the file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpRequest, makeWorkspace, readKeyFile, REPO_ROOT, startForeground, type Addresses, type HttpResponse } from '../helpers/tsserve.js';

const JSON_TYPE = { 'content-type': 'application/json' };

/** Class names in answer order; checks the answer is a probability distribution over the 3 species. */
function classes(answer: unknown): string[] {
  const entries = Object.entries(answer as Record<string, number>);
  assert.deepEqual(entries.map(([name]) => name).sort(), ['setosa', 'versicolor', 'virginica']);
  const values = entries.map(([, p]) => p);
  assert.deepEqual([...values].sort((a, b) => b - a), values, 'most probable first');
  assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-5, `sums to 1: ${values.join(', ')}`);
  return entries.map(([name]) => name);
}

describe('README quick start', () => {
  // The helpers register their cleanup with t.after; for a describe-wide server, run it in after().
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  let addr: Addresses;
  let inf: Record<string, string>;
  let mgmt: Record<string, string>;
  const predict = (body: string): Promise<HttpResponse> =>
    httpRequest(`${addr.inference}/predictions/iris`, { method: 'POST', body, headers: { ...inf, ...JSON_TYPE } });

  before(async () => {
    const ws = makeWorkspace(scope);
    for (const file of fs.readdirSync(path.join(REPO_ROOT, 'model_store'))) {
      fs.copyFileSync(path.join(REPO_ROOT, 'model_store', file), path.join(ws.modelStore, file));
    }
    const server = await startForeground(scope, ws, ['--models', 'iris=iris.mar']);
    addr = server.addresses;
    const keys = readKeyFile(ws);
    inf = { authorization: `Bearer ${keys.inference.key}` };
    mgmt = { authorization: `Bearer ${keys.management.key}` };
  });

  test('a setosa answers class names and probabilities, pretty-printed, setosa first', async () => {
    const res = await predict('[5.1, 3.5, 1.4, 0.2]');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, JSON.stringify(res.json(), null, 2));
    assert.equal(classes(res.json())[0], 'setosa');
    assert.ok(res.json<{ setosa: number }>().setosa > 0.999);
  });

  test('a virginica answers virginica first', async () => {
    const res = await predict('[6.7, 3.0, 5.2, 2.3]');
    assert.equal(res.status, 200, res.text);
    assert.equal(classes(res.json())[0], 'virginica');
  });

  test('the inference key is required; ping is not', async () => {
    const res = await httpRequest(`${addr.inference}/predictions/iris`, { method: 'POST', body: '[5.1, 3.5, 1.4, 0.2]', headers: JSON_TYPE });
    // TorchServe's answer to a missing token: 400 InvalidKeyException (spec §4.5).
    assert.equal(res.status, 400);
    assert.equal(res.json<{ type: string }>().type, 'InvalidKeyException');
    const ping = await httpRequest(`${addr.inference}/ping`);
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.json(), { status: 'Healthy' });
  });

  test('describe with the management key; metrics without a token', async () => {
    const described = await httpRequest(`${addr.management}/models/iris`, { headers: mgmt });
    assert.equal(described.status, 200, described.text);
    assert.equal(described.json<{ modelName: string }[]>()[0]!.modelName, 'iris');
    assert.ok(addr.metrics !== undefined);
    const metrics = await httpRequest(`${addr.metrics}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# (HELP|TYPE) /m);
  });

  test('Open Inference Protocol v2 answers the raw probabilities tensor', async () => {
    const res = await httpRequest(`${addr.inference}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { ...inf, ...JSON_TYPE },
      body: '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}',
    });
    assert.equal(res.status, 200, res.text);
    const body = res.json<{ model_name: string; model_version: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] }>();
    assert.equal(body.model_name, 'iris');
    assert.equal(body.model_version, '1.0');
    assert.equal(body.outputs.length, 1);
    const { name, datatype, shape, data } = body.outputs[0]!;
    assert.deepEqual({ name, datatype, shape }, { name: 'probabilities', datatype: 'FP32', shape: [1, 3] });
    assert.equal(data.indexOf(Math.max(...data)), 0, 'setosa is index 0');
  });

  test('KServe v1 predictions carry class names', async () => {
    const res = await httpRequest(`${addr.inference}/v1/models/iris:predict`, {
      method: 'POST',
      headers: { ...inf, ...JSON_TYPE },
      body: '{"instances": [[6.7, 3.0, 5.2, 2.3]]}',
    });
    assert.equal(res.status, 200, res.text);
    const { predictions } = res.json<{ predictions: unknown[] }>();
    assert.equal(predictions.length, 1);
    assert.equal(classes(predictions[0])[0], 'virginica');
  });
});
