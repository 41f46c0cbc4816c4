/**
 * The registry with the real engine (ONNX Runtime in worker threads): the ModelSpec it builds is
 * what the engine runs, describe reports the ONNX inputs/outputs, and unregister stops the workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_PRINCIPAL } from '../../../src/auth/principal.js';
import { silentLogger } from '../../../src/logger.js';
import { NOOP_METRICS } from '../../../src/metrics/types.js';
import { createEngine } from '../../../src/workers/engine.js';
import { setup, within } from './fakes.js';

test('register, infer, describe, scale and unregister with the real engine', async (t) => {
  const engine = createEngine({ log: silentLogger(), modelLog: silentLogger(), metrics: NOOP_METRICS, cpuCount: 2 });
  t.after(() => engine.close());
  const h = await setup(t, { enable_model_api: 'true' }, { engine });
  await h.mar('add.mar');
  const r = await within(h.registry.register({ url: 'add.mar', initialWorkers: 1 }, NO_PRINCIPAL), 30_000);
  assert.equal(r.message, 'Model "add" Version: 1.0 registered with 1 initial workers');
  const [d] = await h.registry.describe('add', undefined);
  assert.equal(d!.workers.length, 1);
  assert.equal(d!.workers[0]!.status, 'READY');
  assert.equal(d!.inputs[0]!.name, 'input');
  assert.equal(d!.outputs[0]!.dtype, 'float32');

  const res = await within(
    h.registry.get('add').runtime.submit({
      id: 'r1',
      protocol: 'ts',
      explain: false,
      headers: { 'content-type': 'application/json' },
      params: [{ name: 'body', contentType: 'application/json', value: new TextEncoder().encode('{"input": [[1, 2, 3, 4]]}') }],
    }),
    30_000,
  );
  assert.equal(res.status, 200);
  assert.match(new TextDecoder().decode(res.body), /2(\.0)?,\s*3(\.0)?,\s*4(\.0)?,\s*5/);

  assert.equal((await within(h.registry.scale('add', undefined, 0, 0, true), 30_000)).message, 'Workers scaled to 0 for model: add');
  assert.equal((await h.registry.describe('add', undefined))[0]!.workers.filter((w) => w.status === 'READY').length, 0);
  await within(h.registry.unregister('add'), 30_000);
  assert.deepEqual(h.registry.names(), []);
  assert.deepEqual(await h.extracted(), []);
});
