/**
 * The benchmark models and their canonical input (shared/models/README.md): for flat index i within
 * one sample, x[i] = (i % 255) / 255 - 0.5. A server is measured only once its answer for that input
 * matches models.json's reference.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type ModelName = 'add' | 'mlp' | 'resnet18';

export type BenchModel = {
  name: ModelName;
  file: string;
  bytes: number;
  inputName: string;
  /** Input shape of one sample (without the batch dimension). */
  sampleShape: number[];
  reference: { first5: number[]; argmax: number };
};

type ModelsJson = {
  models: Record<
    string,
    {
      file: string;
      inputs: { name: string; shape: (number | string)[] }[];
      reference: { output_first5: number[]; output_argmax: number };
    }
  >;
};

export function loadModels(modelsDir: string): Record<ModelName, BenchModel> {
  const json = JSON.parse(readFileSync(path.join(modelsDir, 'models.json'), 'utf8')) as ModelsJson;
  const out = {} as Record<ModelName, BenchModel>;
  for (const name of ['add', 'mlp', 'resnet18'] as const) {
    const m = json.models[name];
    if (m === undefined) throw new Error(`models.json has no entry for ${name}`);
    const file = path.join(modelsDir, m.file);
    out[name] = {
      name,
      file,
      bytes: statSync(file).size,
      inputName: m.inputs[0]!.name,
      sampleShape: m.inputs[0]!.shape.slice(1).map(Number),
      reference: { first5: m.reference.output_first5, argmax: m.reference.output_argmax },
    };
  }
  return out;
}

export const product = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

export function canonicalValue(i: number): number {
  return (i % 255) / 255 - 0.5;
}

/** Raw little-endian float32 bytes of one canonical sample. */
export function canonicalFloat32(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = canonicalValue(i);
  return x;
}

/** One canonical sample as a JSON nested array of the sample's shape. */
export function canonicalJson(shape: number[]): string {
  let i = 0;
  const build = (d: number): unknown => {
    const len = shape[d]!;
    const arr: unknown[] = new Array(len);
    for (let k = 0; k < len; k++) arr[k] = d === shape.length - 1 ? canonicalValue(i++) : build(d + 1);
    return arr;
  };
  return JSON.stringify(build(0));
}

function flatten(value: unknown, out: number[] = []): number[] {
  if (Array.isArray(value)) for (const v of value) flatten(v, out);
  else if (typeof value === 'number') out.push(value);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) flatten(v, out);
  return out;
}

/** Checks an output (any nesting) against the reference: argmax and the first five values (1e-3). */
export function checkOutput(model: BenchModel, output: unknown): string | undefined {
  const flat = flatten(output);
  if (flat.length === 0) return `${model.name}: empty output`;
  let argmax = 0;
  for (let i = 1; i < flat.length; i++) if (flat[i]! > flat[argmax]!) argmax = i;
  if (argmax !== model.reference.argmax) return `${model.name}: argmax ${argmax}, reference ${model.reference.argmax}`;
  for (let i = 0; i < model.reference.first5.length; i++) {
    if (Math.abs(flat[i]! - model.reference.first5[i]!) > 1e-3) {
      return `${model.name}: output[${i}] = ${flat[i]}, reference ${model.reference.first5[i]}`;
    }
  }
  return undefined;
}
