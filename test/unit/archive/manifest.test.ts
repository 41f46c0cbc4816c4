import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidModelError } from '../../../src/errors.js';
import { parseManifest } from '../../../src/archive/manifest.js';

const valid = () => ({
  createdOn: '17/03/2025 11:20:57',
  runtime: 'python',
  model: { modelName: 'mnist', serializedFile: 'mnist.onnx', handler: 'base_handler', modelVersion: '2.0' },
  archiverVersion: '0.12.0',
});

function rejects(json: unknown, message: string): void {
  assert.throws(
    () => parseManifest(json),
    (err: unknown) => {
      assert.ok(err instanceof InvalidModelError, `expected InvalidModelError, got ${String(err)}`);
      assert.equal(err.status, 400);
      assert.equal(err.type, 'InvalidModelException');
      assert.equal(err.message, message);
      return true;
    },
  );
}

test('a TorchServe manifest is accepted as written', () => {
  const m = parseManifest(valid());
  assert.equal(m.runtime, 'python');
  assert.equal(m.model.modelName, 'mnist');
  assert.equal(m.model.modelVersion, '2.0');
  assert.equal(m.model.handler, 'base_handler');
  assert.equal(m.archiverVersion, '0.12.0');
});

test('defaults: runtime python, modelVersion 1.0; unknown fields kept', () => {
  const m = parseManifest({ model: { modelName: 'x', serializedFile: 'x.onnx', extraThing: 1 }, custom: true });
  assert.equal(m.runtime, 'python');
  assert.equal(m.model.modelVersion, '1.0');
  assert.equal((m.model as Record<string, unknown>).extraThing, 1);
  assert.equal(m.custom, true);
});

test('a numeric modelVersion becomes a string; null optional fields are dropped', () => {
  const m = parseManifest({ model: { modelName: 'x', modelVersion: 3, handler: null } });
  assert.equal(m.model.modelVersion, '3');
  assert.equal('handler' in m.model, false);
});

test('python3 and LSP runtimes are accepted', () => {
  for (const runtime of ['python3', 'LSP']) assert.equal(parseManifest({ ...valid(), runtime }).runtime, runtime);
});

test('the input object is not modified', () => {
  const json = { model: { modelName: 'x' } };
  parseManifest(json);
  assert.deepEqual(json, { model: { modelName: 'x' } });
});

test('TorchServe messages for missing model, name, version, runtime (spec §3.4)', () => {
  rejects({ runtime: 'python' }, 'Missing Model entry in manifest file.');
  rejects({ model: 'mnist' }, 'Missing Model entry in manifest file.');
  rejects({ model: [] }, 'Missing Model entry in manifest file.');
  rejects({ model: {} }, 'Model name is not defined.');
  rejects({ model: { modelName: '  ' } }, 'Model name is not defined.');
  rejects({ model: { modelName: 7 } }, 'Model name is not defined.');
  rejects({ model: { modelName: 'x', modelVersion: '' } }, 'Model version is not defined.');
  rejects({ model: { modelName: 'x', modelVersion: { v: 1 } } }, 'Model version is not defined.');
  rejects({ ...valid(), runtime: 'java' }, 'Runtime is not defined or invalid.');
  rejects({ ...valid(), runtime: 3 }, 'Runtime is not defined or invalid.');
});

test('a manifest that is not an object, or a field of the wrong type, is named', () => {
  rejects([1, 2], 'MAR-INF/MANIFEST.json must hold a JSON object.');
  rejects('text', 'MAR-INF/MANIFEST.json must hold a JSON object.');
  rejects(null, 'MAR-INF/MANIFEST.json must hold a JSON object.');
  for (const field of ['serializedFile', 'handler', 'configFile', 'modelFile', 'requirementsFile', 'envelope']) {
    rejects({ model: { modelName: 'x', [field]: 42 } }, `Manifest field model.${field} must be a string.`);
  }
});
