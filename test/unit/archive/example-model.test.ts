/**
 * The bundled example (issue #4): model_store/iris.mar opens, its ONNX model has the documented
 * shape, gives meaningful answers, and is exactly what scripts/train-example.ts produces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { silentLogger } from '../../../src/logger.js';
import { openModel } from '../../../src/archive/open-model.js';
import { buildExampleArchive, HANDLER_FILE, INDEX_TO_NAME, REFERENCE_INPUT, trainIrisModel } from '../../../scripts/train-example.js';
import { REPO_ROOT } from '../../helpers/repo.js';

const STORE = path.join(REPO_ROOT, 'model_store');

async function openIris(t: import('node:test').TestContext) {
  const work = await mkdtemp(path.join(os.tmpdir(), 'tsserve-iris-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const model = await openModel('iris.mar', {
    modelStore: STORE,
    workRoot: work,
    limits: { maxEntries: 100, maxUncompressedBytes: 10_000_000 },
    log: silentLogger(),
  });
  t.after(() => model.close());
  return model;
}

test('model_store/iris.mar opens with its labels, model config and handler', async (t) => {
  const model = await openIris(t);
  assert.equal(model.manifest.model.modelName, 'iris');
  assert.equal(model.manifest.model.modelVersion, '1.0');
  assert.equal(model.handler.kind, 'js');
  assert.equal(model.handler.kind === 'js' && path.basename(model.handler.file), HANDLER_FILE);
  assert.equal(
    await readFile(path.join(model.dir, HANDLER_FILE), 'utf8'),
    await readFile(path.join(REPO_ROOT, 'scripts', HANDLER_FILE), 'utf8'),
  );
  assert.deepEqual(model.modelYamlConfig, { minWorkers: 1, maxWorkers: 1, batchSize: 8, maxBatchDelay: 5 });
  const labels = JSON.parse(await readFile(path.join(model.dir, 'index_to_name.json'), 'utf8')) as unknown;
  assert.deepEqual(labels, { 0: 'setosa', 1: 'versicolor', 2: 'virginica' });
  assert.deepEqual(labels, INDEX_TO_NAME);
});

test('the example ONNX model: input [N,4] float32, output probabilities [N,3], IR 8, opset 17', async (t) => {
  const model = await openIris(t);
  const proto = onnxProto.onnx.ModelProto.decode(await readFile(model.serializedFile));
  assert.equal(Number(proto.irVersion), 8);
  assert.equal(Number(proto.opsetImport[0]!.version), 17);
  const io = (v: onnxProto.onnx.IValueInfoProto) => ({
    name: v.name,
    elemType: v.type!.tensorType!.elemType,
    dims: v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
  });
  assert.deepEqual((proto.graph!.input ?? []).map(io), [{ name: 'input', elemType: 1, dims: ['N', 4] }]);
  assert.deepEqual((proto.graph!.output ?? []).map(io), [{ name: 'probabilities', elemType: 1, dims: ['N', 3] }]);
});

test('the archived model is exactly what scripts/train-example.ts trains (reproducible)', async (t) => {
  const model = await openIris(t);
  const trained = trainIrisModel();
  assert.ok(trained.testAccuracy >= 0.9, `test accuracy ${trained.testAccuracy}`);
  assert.ok(Buffer.from(trained.onnxBytes).equals(await readFile(model.serializedFile)), 'retrained bytes differ: rebuild with node dist/scripts/train-example.js');
});

test('scripts/train-example.ts rebuilds model_store/iris.mar byte for byte', async (t) => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'tsserve-iris-build-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const built = await buildExampleArchive(out);
  assert.equal(built.path, path.join(out, 'iris.mar'));
  assert.equal(built.predicted, 'setosa');
  const rebuilt = await readFile(built.path);
  const shipped = await readFile(path.join(STORE, 'iris.mar'));
  assert.ok(rebuilt.equals(shipped), 'model_store/iris.mar is stale: rebuild with node dist/scripts/train-example.js');
});

test('ONNX Runtime classifies the documented samples correctly', async (t) => {
  const model = await openIris(t);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(model.serializedFile);
  t.after(() => session.release());
  const samples = [REFERENCE_INPUT, [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]];
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(samples.flat()), [3, 4]) });
  const probs = Array.from(out.probabilities!.data as Float32Array);
  const argmax = (row: number[]) => row.indexOf(Math.max(...row));
  const predicted = [0, 1, 2].map((i) => INDEX_TO_NAME[String(argmax(probs.slice(i * 3, i * 3 + 3)))]);
  assert.deepEqual(predicted, ['setosa', 'versicolor', 'virginica']);
  for (let i = 0; i < 3; i += 1) {
    const sum = probs.slice(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
  }
});
