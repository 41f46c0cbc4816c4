/**
 * TorchServe's `image_classifier` for ONNX models: image bytes (JPEG/PNG/WebP... anything sharp
 * decodes) → resize (shorter side) → center crop → scale to [0,1] → normalise → NCHW float32;
 * the output row goes through softmax and the top k classes are answered as
 * `{"<class name>": probability, ...}`, names from index_to_name.json when the archive has one.
 *
 * Settings (docs/handlers.md): model_config.yaml `handler:` section (TorchServe's convention) or
 * top-level keys — resize, crop, mean, std, topk (default 5), layout (NCHW | NHWC).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { isDynamicDim } from '../workers/io.js';
import type { TensorInfo } from '../workers/types.js';
import { JsonEntries } from './json-format.js';
import { TensorBatch, TensorHandler, bodyOf, type Block, type RequestPlan } from './tensor-handler.js';
import type { HandlerContext, RequestRecord, WorkerContext } from './types.js';

export type ImageClassifierConfig = {
  resize: number;
  crop: number;
  mean: [number, number, number];
  std: [number, number, number];
  topk: number;
  layout: 'NCHW' | 'NHWC';
};

export const IMAGE_DEFAULTS: ImageClassifierConfig = {
  resize: 256,
  crop: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  topk: 5,
  layout: 'NCHW',
};

type Sharp = typeof import('sharp');

function num(v: unknown, fallback: number, min = 1): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min ? Math.floor(v) : fallback;
}

function triple(v: unknown, fallback: [number, number, number]): [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number') ? (v as [number, number, number]) : fallback;
}

/** Reads the settings from model_config.yaml; the model's fixed H/W win over `crop`. */
export function imageConfig(yaml: Readonly<Record<string, unknown>>, input: TensorInfo): ImageClassifierConfig {
  const section = (yaml.handler !== null && typeof yaml.handler === 'object' ? yaml.handler : {}) as Record<string, unknown>;
  const get = (k: string): unknown => section[k] ?? yaml[k];
  let layout: 'NCHW' | 'NHWC' = get('layout') === 'NHWC' ? 'NHWC' : 'NCHW';
  if (get('layout') === undefined && input.shape.length === 4 && input.shape[3] === 3 && input.shape[1] !== 3) layout = 'NHWC';
  const hw = layout === 'NCHW' ? input.shape.slice(2) : input.shape.slice(1, 3);
  let crop = num(get('crop'), IMAGE_DEFAULTS.crop);
  if (hw.length === 2 && !isDynamicDim(hw[0]!) && hw[0] === hw[1]) crop = hw[0] as number;
  return {
    resize: Math.max(num(get('resize'), IMAGE_DEFAULTS.resize), crop),
    crop,
    mean: triple(get('mean'), IMAGE_DEFAULTS.mean),
    std: triple(get('std'), IMAGE_DEFAULTS.std),
    topk: num(get('topk'), IMAGE_DEFAULTS.topk),
    layout,
  };
}

/** index_to_name.json: {"0": "name"} or {"0": ["wnid", "name"]} (the last element is the name). */
export function labelsFrom(mapping: unknown): Map<number, string> {
  const out = new Map<number, string>();
  if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
    throw new Error('index_to_name.json must be a JSON object {"0": "name", ...}');
  }
  for (const [k, v] of Object.entries(mapping as Record<string, unknown>)) {
    const name = Array.isArray(v) ? v[v.length - 1] : v;
    if (/^\d+$/.test(k) && (typeof name === 'string' || typeof name === 'number')) out.set(Number(k), String(name));
  }
  return out;
}

export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < row.length; i++) out[i]! /= sum;
  return out;
}

export class ImageClassifierHandler extends TensorHandler {
  private config: ImageClassifierConfig = IMAGE_DEFAULTS;
  private labels = new Map<number, string>();
  private sharp!: Sharp;
  private input!: TensorInfo;
  private nativeCall: WorkerContext['nativeCall'] = (fn) => fn();

  override async initialize(context: WorkerContext): Promise<void> {
    super.initialize(context);
    if (this.io.inputs.length !== 1 || this.io.inputs[0]!.shape.length !== 4 || this.io.inputs[0]!.dtype !== 'float32') {
      throw new Error('image_classifier needs a model with one float32 input of rank 4 (NCHW or NHWC)');
    }
    this.input = this.io.inputs[0]!;
    this.config = imageConfig(context.modelYamlConfig, this.input);
    this.nativeCall = context.nativeCall;
    this.sharp = (await import('sharp')).default;
    let text: string | undefined;
    try {
      text = await readFile(path.join(context.modelDir, 'index_to_name.json'), 'utf8');
    } catch {
      text = undefined; // no mapping: classes are named by index, as TorchServe does
    }
    if (text !== undefined) this.labels = labelsFrom(JSON.parse(text));
  }

  /** Decoded, resized, cropped and normalised image as the model's input layout (without N). */
  async imageToFeed(bytes: Uint8Array): Promise<Float32Array> {
    const { resize, crop, mean, std, layout } = this.config;
    let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      const img = this.sharp(bytes, { failOn: 'error' });
      const meta = await this.nativeCall(() => img.metadata());
      const w = meta.width ?? 0;
      const h = meta.height ?? 0;
      if (w === 0 || h === 0) throw new Error('image has no size');
      // torchvision Resize(resize): the shorter side becomes `resize`, aspect ratio kept.
      const scale = resize / Math.min(w, h);
      const rw = Math.max(crop, Math.round(w * scale));
      const rh = Math.max(crop, Math.round(h * scale));
      raw = await this.nativeCall(() =>
        img
          .resize(rw, rh, { fit: 'fill' })
          .extract({ left: Math.round((rw - crop) / 2), top: Math.round((rh - crop) / 2), width: crop, height: crop })
          .removeAlpha()
          .toColourspace('srgb')
          .raw()
          .toBuffer({ resolveWithObject: true }),
      );
    } catch (err) {
      throw new InvalidInputError(`Could not decode the image (${(err as Error).message}); send JPEG or PNG bytes`);
    }
    const { data, info } = raw;
    const c = info.channels;
    const n = crop * crop;
    const out = new Float32Array(3 * n);
    for (let p = 0; p < n; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = data[p * c + (c >= 3 ? ch : 0)]! / 255;
        const norm = (v - mean[ch]!) / std[ch]!;
        if (layout === 'NCHW') out[ch * n + p] = norm;
        else out[p * 3 + ch] = norm;
      }
    }
    return out;
  }

  private toBytes(v: unknown): Uint8Array {
    if (v instanceof Uint8Array) return v;
    // TorchServe's image classifier base64-decodes string input (e.g. KServe {"data": "<b64>"}).
    if (typeof v === 'string') return Buffer.from(v, 'base64');
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const s = o.b64 ?? o.data ?? o.body;
      if (typeof s === 'string') return Buffer.from(s, 'base64');
    }
    throw new InvalidInputError('Expected image bytes (JPEG/PNG), a base64 string, or {"b64": "..."}');
  }

  private async block(bytes: Uint8Array): Promise<Block> {
    const data = await this.imageToFeed(bytes);
    const { crop, layout } = this.config;
    const dims = layout === 'NCHW' ? [3, crop, crop] : [crop, crop, 3];
    return { rows: 1, inputs: { [this.input.name]: { data, dims: this.batchable ? dims : [1, ...dims] } } };
  }

  override async preprocess(requests: RequestRecord[], ctx: HandlerContext): Promise<TensorBatch> {
    const plans = await Promise.all(
      requests.map(async (record, idx): Promise<RequestPlan> => {
        const protocol = ctx.getRequestProtocol(idx);
        try {
          const body = bodyOf(record, ctx, idx);
          if (body === undefined) throw new InvalidInputError('The request has no image (raw body or "data" form field)');
          if (protocol === 'kserve-v1') {
            const root = this.parseJson(body.value) as { instances?: unknown };
            if (root === null || typeof root !== 'object' || !Array.isArray(root.instances)) {
              throw new InvalidInputError('Expected {"instances": [{"b64": "<base64 image>"}, ...]}');
            }
            return { protocol, blocks: await Promise.all(root.instances.map((inst) => this.block(this.toBytes(inst)))) };
          }
          if (protocol === 'oip-v2') {
            throw new InvalidInputError('The image_classifier handler answers /predictions and /v1 :predict; use a tensor-handler model for /v2');
          }
          return { protocol, blocks: [await this.block(this.toBytes(body.value))] };
        } catch (err) {
          return { protocol, blocks: [], error: err as Error };
        }
      }),
    );
    return new TensorBatch(plans);
  }

  private classify(block: Block): JsonEntries {
    const out = block.outputs?.[this.io.outputs[0]!.name];
    if (out === undefined) return new JsonEntries([]);
    const probs = softmax(out.data as Float32Array);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]!);
    const k = Math.min(this.config.topk, order.length);
    return new JsonEntries(order.slice(0, k).map((i) => [this.labels.get(i) ?? String(i), probs[i]!]));
  }

  override postprocess(data: unknown, ctx: HandlerContext): unknown[] {
    if (!(data instanceof TensorBatch)) return super.postprocess(data, ctx);
    return data.requests.map((plan, idx) => {
      if (plan.error !== undefined) return plan.error;
      if (plan.protocol === 'kserve-v1') {
        ctx.setResponseContentType(idx, 'application/json');
        return { predictions: plan.blocks.map((b) => this.classify(b)) };
      }
      return this.classify(plan.blocks[0]!);
    });
  }
}
