import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { TsServeError } from '../../../src/errors.js';
import { imageConfig, labelsFrom, softmax } from '../../../src/handlers/image-classifier.js';
import { makeSpec, request, tempDir, testEngine, text, writeImageModel } from '../workers/helpers.js';

/** Expected logits for a solid colour: the normalised channel values (the model averages them). */
function expectedProbs(rgb: [number, number, number]): number[] {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  return Array.from(softmax(rgb.map((v, c) => (v / 255 - mean[c]!) / std[c]!)));
}

test('image_classifier: PNG in, top-k class names and probabilities out', async (t) => {
  const dir = tempDir(t);
  const file = writeImageModel(dir);
  writeFileSync(path.join(dir, 'index_to_name.json'), JSON.stringify({ 0: ['n0', 'red'], 1: 'green', 2: ['n2', 'blue'] }));
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();

  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: file, modelDir: dir, handler: 'image_classifier', modelYamlConfig: { topk: 2 } }));
  t.after(() => rt.close(0));
  const res = await rt.submit(request(new Uint8Array(png), { contentType: 'image/png' }));
  const body = text(res.body);
  const probs = expectedProbs([255, 0, 0]);
  const answer = JSON.parse(body) as Record<string, number>;
  assert.deepEqual(Object.keys(answer), ['red', 'blue'], 'sorted by probability, top 2');
  assert.ok(Math.abs(answer.red! - probs[0]!) < 1e-4, `red ${answer.red} vs ${probs[0]}`);
  assert.ok(Math.abs(answer.blue! - probs[2]!) < 1e-4);
  assert.ok(body.startsWith('{\n  "red": '));

  // KServe v1 with base64 instances, and a multipart "data" field.
  const blue = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }).png().toBuffer();
  const v1 = await rt.submit(request({ instances: [{ b64: blue.toString('base64') }, { data: png.toString('base64') }] }, { protocol: 'kserve-v1' }));
  const preds = (JSON.parse(text(v1.body)) as { predictions: Record<string, number>[] }).predictions;
  assert.equal(Object.keys(preds[0]!)[0], 'blue');
  assert.equal(Object.keys(preds[1]!)[0], 'red');
  const form = await rt.submit(request(new Uint8Array(blue), { name: 'data', contentType: 'image/png' }));
  assert.equal(Object.keys(JSON.parse(text(form.body)) as object)[0], 'blue');

  await assert.rejects(rt.submit(request(new Uint8Array([1, 2, 3, 4]), { contentType: 'image/png' })), (err: unknown) => {
    assert.ok(err instanceof TsServeError);
    assert.equal(err.status, 400);
    assert.match(err.message, /^Could not decode the image/);
    return true;
  });
});

test('image_classifier settings and label maps', () => {
  const info = { name: 'input', dtype: 'float32' as const, shape: ['N', 3, 'H', 'W'] };
  assert.deepEqual(imageConfig({}, info), {
    resize: 256,
    crop: 224,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    topk: 5,
    layout: 'NCHW',
  });
  const custom = imageConfig({ handler: { resize: 100, crop: 90, topk: 3, mean: [0.5, 0.5, 0.5] } }, info);
  assert.equal(custom.resize, 100);
  assert.equal(custom.crop, 90);
  assert.equal(custom.topk, 3);
  assert.deepEqual(custom.mean, [0.5, 0.5, 0.5]);
  // A fixed model size wins over `crop`; NHWC is recognised.
  assert.equal(imageConfig({ crop: 100 }, { ...info, shape: ['N', 3, 32, 32] }).crop, 32);
  assert.equal(imageConfig({}, { ...info, shape: ['N', 32, 32, 3] }).layout, 'NHWC');
  assert.deepEqual([...labelsFrom({ 0: ['n01', 'tench'], 1: 'goldfish' })], [
    [0, 'tench'],
    [1, 'goldfish'],
  ]);
  assert.throws(() => labelsFrom([1, 2]));
});
