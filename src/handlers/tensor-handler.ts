/**
 * The generic tensor handler (default; TorchServe's `base_handler` maps to it). Per protocol:
 *
 *   ts          body = one sample: JSON nested array (single input) or {input: array, ...},
 *               or raw little-endian bytes (application/octet-stream, single input);
 *               answer = that sample's output without the batch dim, pretty JSON (indent 2)
 *   kserve-v1   {"instances": [sample, ...]} → {"predictions": [output, ...]}
 *   oip-v2      OIP JSON or binary tensors → OIP response (oip.ts)
 *
 * Requests of a batch are stacked on dim 0 (one ONNX Runtime run per group of samples whose
 * non-batch dims agree) and the outputs split back. A request that fails to decode or to run fails alone.
 */
import { InvalidInputError, PredictionFailedError, TsServeError } from '../errors.js';
import { describeTensor, product } from '../workers/io.js';
import type { ModelIO, Protocol, TensorInfo } from '../workers/types.js';
import { JsonEntries, TensorView } from './json-format.js';
import { parseNumberArray } from './fast-json.js';
import { encodeOipResponse, HEADER_LENGTH, parseOipRequest, type OipRequest } from './oip.js';
import { fitDims, jsonToFeed, rawToFeed, sliceRows, stack, type Feed } from './tensor-codec.js';
import type { Handler, HandlerContext, Ort, OrtSession, RequestRecord, WorkerContext } from './types.js';

/** `rows` samples of every model input; `outputs` filled by inference (dims include the rows). */
export type Block = { rows: number; inputs: Record<string, Feed>; outputs?: Record<string, Feed> };

/** What the base preprocess makes of one request. */
export type RequestPlan = {
  protocol: Protocol;
  blocks: Block[];
  /** Set when the request could not be decoded or its run failed: it answers this error. */
  error?: Error;
  oip?: OipRequest;
};

/** The base handler's batch: passed from preprocess to inference to postprocess. */
export class TensorBatch {
  readonly requests: RequestPlan[];
  constructor(requests: RequestPlan[]) {
    this.requests = requests;
  }
}

const utf8 = new TextDecoder();

/** TorchServe's `row.get("data") or row.get("body")` with the part's content type. */
export function bodyOf(record: RequestRecord, ctx: HandlerContext, idx: number): { value: unknown; contentType?: string; name: string } | undefined {
  for (const name of ['data', 'body']) {
    const value = record[name];
    if (value === undefined || value === null) continue;
    if ((typeof value === 'string' || value instanceof Uint8Array) && value.length === 0) continue;
    const params = ctx.requests[idx]?.params ?? [];
    let contentType: string | undefined;
    for (const p of params) if (p.name === name) contentType = p.contentType;
    return { value, contentType, name };
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function isOrtTensor(ort: Ort, v: unknown): v is InstanceType<Ort['Tensor']> {
  return v instanceof ort.Tensor;
}

export class TensorHandler implements Handler {
  protected io!: ModelIO;
  protected batchable = true;
  protected session!: OrtSession;
  protected ort!: Ort;
  protected modelName = '';
  protected modelVersion = '';

  initialize(context: WorkerContext): void | Promise<void> {
    this.io = context.io;
    this.batchable = context.batchable;
    this.session = context.session;
    this.ort = context.ort;
    this.modelName = context.modelName;
    this.modelVersion = context.modelVersion;
  }

  /** Dims one sample must have: the model shape without the batch dim, or all of it. */
  protected sampleDims(info: TensorInfo): (number | string)[] {
    return this.batchable ? info.shape.slice(1) : info.shape;
  }

  protected expectation(): string {
    const list = this.io.inputs.map((t) => `"${t.name}" (${describeTensor(t)})`).join(', ');
    const one = this.io.inputs.length === 1;
    return one
      ? `the model expects input ${list}: send one sample as a JSON nested array (or {"${this.io.inputs[0]!.name}": [...]}), or raw little-endian bytes with Content-Type application/octet-stream`
      : `the model expects inputs ${list}: send one sample as a JSON object keyed by input name`;
  }

  protected parseJson(value: unknown): unknown {
    if (typeof value === 'string' || value instanceof Uint8Array) {
      const text = typeof value === 'string' ? value : utf8.decode(value);
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new InvalidInputError(`Invalid JSON body (${(err as Error).message}); ${this.expectation()}`);
      }
    }
    return value;
  }

  /** One sample (JSON value) → a block of one row. */
  protected sampleToBlock(sample: unknown): Block {
    const inputs: Record<string, Feed> = {};
    const single = this.io.inputs.length === 1 ? this.io.inputs[0]! : undefined;
    if (single !== undefined && !isPlainObject(sample)) {
      inputs[single.name] = jsonToFeed(single, sample, this.sampleDims(single), this.batchable);
      return { rows: 1, inputs };
    }
    if (!isPlainObject(sample)) {
      throw new InvalidInputError(`Expected a JSON object keyed by input name; ${this.expectation()}`);
    }
    const known = new Set(this.io.inputs.map((t) => t.name));
    for (const key of Object.keys(sample)) {
      if (!known.has(key)) throw new InvalidInputError(`Unknown input "${key}"; ${this.expectation()}`);
    }
    for (const info of this.io.inputs) {
      if (!(info.name in sample)) throw new InvalidInputError(`Missing input "${info.name}"; ${this.expectation()}`);
      inputs[info.name] = jsonToFeed(info, sample[info.name], this.sampleDims(info), this.batchable);
    }
    return { rows: 1, inputs };
  }

  protected decode(record: RequestRecord, ctx: HandlerContext, idx: number): RequestPlan {
    const protocol = ctx.getRequestProtocol(idx);
    const body = bodyOf(record, ctx, idx);
    if (protocol === 'oip-v2') {
      const headerLength = ctx.getRequestHeader(idx, HEADER_LENGTH);
      const raw = body?.value;
      const oip = parseOipRequest({
        body: raw instanceof Uint8Array ? raw : typeof raw === 'string' ? new TextEncoder().encode(raw) : undefined,
        parsed: raw instanceof Uint8Array || typeof raw === 'string' ? undefined : raw,
        headerLength,
        io: this.io,
        batchable: this.batchable,
        modelName: this.modelName,
      });
      return { protocol, oip, blocks: [{ rows: oip.rows, inputs: oip.inputs }] };
    }
    if (body === undefined) {
      throw new InvalidInputError(`The request has no body (or "data" form field); ${this.expectation()}`);
    }
    if (protocol === 'kserve-v1') {
      const root = this.parseJson(body.value);
      const instances = isPlainObject(root) ? (root.instances ?? root.inputs) : undefined;
      if (!Array.isArray(instances)) {
        throw new InvalidInputError(`Expected {"instances": [...]} with one sample per instance; ${this.expectation()}`);
      }
      const blocks = instances.map((inst, k) => {
        try {
          return this.sampleToBlock(inst);
        } catch (err) {
          if (err instanceof TsServeError) throw new InvalidInputError(`Instance ${k}: ${err.message}`);
          throw err;
        }
      });
      return { protocol, blocks };
    }
    if (body.contentType === 'application/octet-stream' && body.value instanceof Uint8Array) {
      if (this.io.inputs.length !== 1) {
        throw new InvalidInputError(`Raw bytes can only feed a single-input model; ${this.expectation()}`);
      }
      const info = this.io.inputs[0]!;
      return { protocol, blocks: [{ rows: 1, inputs: { [info.name]: rawToFeed(info, body.value, this.sampleDims(info), this.batchable) } }] };
    }
    const fast = this.fastSample(body.value);
    if (fast !== undefined) return { protocol, blocks: [fast] };
    return { protocol, blocks: [this.sampleToBlock(this.parseJson(body.value))] };
  }

  /** JSON bytes of one float sample for a single-input model, without JSON.parse (fast-json.ts). */
  protected fastSample(value: unknown): Block | undefined {
    const info = this.io.inputs.length === 1 ? this.io.inputs[0]! : undefined;
    if (info === undefined || !(value instanceof Uint8Array) || (info.dtype !== 'float32' && info.dtype !== 'float64')) return undefined;
    const feed = parseNumberArray(value, info.dtype);
    if (feed === undefined) return undefined;
    return { rows: 1, inputs: { [info.name]: { data: feed.data, dims: fitDims(info, feed, this.sampleDims(info), this.batchable) } } };
  }

  preprocess(requests: RequestRecord[], ctx: HandlerContext): TensorBatch | Promise<TensorBatch> {
    return new TensorBatch(
      requests.map((record, idx) => {
        try {
          return this.decode(record, ctx, idx);
        } catch (err) {
          return { protocol: ctx.getRequestProtocol(idx), blocks: [], error: err as Error };
        }
      }),
    );
  }

  async inference(data: unknown, _ctx: HandlerContext): Promise<unknown> {
    if (data instanceof TensorBatch) {
      await this.runBatch(data);
      return data;
    }
    if (isOrtTensor(this.ort, data)) return this.session.run({ [this.io.inputs[0]!.name]: data });
    if (isPlainObject(data) && Object.values(data).every((v) => isOrtTensor(this.ort, v))) {
      return this.session.run(data as Record<string, InstanceType<Ort['Tensor']>>);
    }
    throw new Error('the base inference step takes the base preprocess output, an ort.Tensor, or an object of ort.Tensors by input name');
  }

  /** Groups the decoded blocks, runs each group once, and puts the output slices on the blocks. */
  protected async runBatch(batch: TensorBatch): Promise<void> {
    type Member = { plan: RequestPlan; block: Block };
    const groups = new Map<string, Member[]>();
    let solo = 0;
    for (const plan of batch.requests) {
      if (plan.error !== undefined) continue;
      for (const block of plan.blocks) {
        // Without a batch dim each block runs alone; with one, blocks whose non-batch dims
        // agree are stacked into one run.
        const key = this.batchable ? this.io.inputs.map((t) => block.inputs[t.name]!.dims.join('x')).join('|') : `solo${solo++}`;
        const list = groups.get(key);
        if (list === undefined) groups.set(key, [{ plan, block }]);
        else list.push({ plan, block });
      }
    }
    const fail = (members: Member[], err: unknown): void => {
      const e = err instanceof TsServeError ? err : new PredictionFailedError((err as Error).message);
      for (const m of members) m.plan.error ??= e;
    };
    for (const members of groups.values()) {
      try {
        await this.runGroup(members.map((m) => m.block));
      } catch (err) {
        if (members.length === 1) {
          fail(members, err);
          continue;
        }
        // One sample may be what the model rejects (a value out of an embedding's range, say):
        // run each alone, so only the requests whose own samples fail get the error.
        for (const m of members) {
          try {
            await this.runGroup([m.block]);
          } catch (one) {
            fail([m], one);
          }
        }
      }
    }
  }

  protected async runGroup(blocks: Block[]): Promise<void> {
    const { ort } = this;
    const rows = blocks.reduce((n, b) => n + b.rows, 0);
    const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
    for (const info of this.io.inputs) {
      const first = blocks[0]!.inputs[info.name]!;
      if (!this.batchable) {
        feeds[info.name] = new ort.Tensor(info.dtype, first.data as never, first.dims);
        continue;
      }
      const rowSize = product(first.dims);
      const data =
        blocks.length === 1 ? first.data : stack(info.dtype, blocks.map((b) => ({ data: b.inputs[info.name]!.data, rows: b.rows })), rowSize);
      feeds[info.name] = new ort.Tensor(info.dtype, data as never, [rows, ...first.dims]);
    }
    const out = await this.session.run(feeds);
    for (const info of this.io.outputs) {
      const t = out[info.name] as InstanceType<Ort['Tensor']> | undefined;
      if (t === undefined) continue;
      const dims = [...t.dims];
      const data = t.data as Feed['data'];
      if (!this.batchable || blocks.length === 1) {
        if (this.batchable && dims[0] !== rows) throw new PredictionFailedError(`output "${info.name}" has no batch dimension (dims [${dims.join(',')}])`);
        for (const b of blocks) (b.outputs ??= {})[info.name] = { data, dims };
        continue;
      }
      if (dims[0] !== rows) throw new PredictionFailedError(`output "${info.name}" has no batch dimension (dims [${dims.join(',')}])`);
      const rowSize = product(dims.slice(1));
      let start = 0;
      for (const b of blocks) {
        (b.outputs ??= {})[info.name] = { data: sliceRows(data, rowSize, start, b.rows), dims: [b.rows, ...dims.slice(1)] };
        start += b.rows;
      }
    }
  }

  /** One sample's output (ts and v1): a bare nested array, or an object by output name. */
  protected sampleValue(block: Block): unknown {
    const views = this.io.outputs.map((info) => {
      const t = block.outputs?.[info.name];
      if (t === undefined) return new TensorView([], [0], info.dtype);
      return new TensorView(t.data, this.batchable ? t.dims.slice(1) : t.dims, info.dtype);
    });
    if (views.length === 1) return views[0];
    return new JsonEntries(this.io.outputs.map((info, i) => [info.name, views[i]]));
  }

  postprocess(data: unknown, ctx: HandlerContext): unknown[] {
    if (data instanceof TensorBatch) {
      return data.requests.map((plan, idx) => {
        if (plan.error !== undefined) return plan.error;
        switch (plan.protocol) {
          case 'oip-v2': {
            const block = plan.blocks[0]!;
            const res = encodeOipResponse({
              modelName: this.modelName,
              modelVersion: this.modelVersion,
              request: plan.oip!,
              io: this.io,
              outputs: block.outputs ?? {},
            });
            ctx.setResponseContentType(idx, res.contentType);
            for (const [k, v] of Object.entries(res.headers ?? {})) ctx.setResponseHeader(idx, k, v);
            return res.body;
          }
          case 'kserve-v1':
            ctx.setResponseContentType(idx, 'application/json');
            return { predictions: plan.blocks.map((b) => this.sampleValue(b)) };
          default:
            return this.sampleValue(plan.blocks[0]!);
        }
      });
    }
    if (Array.isArray(data)) return data;
    if (isPlainObject(data) && Object.values(data).every((v) => isOrtTensor(this.ort, v))) {
      return this.splitRaw(data as Record<string, InstanceType<Ort['Tensor']>>, ctx.batchSize);
    }
    throw new Error('the base postprocess step takes the base inference output or ONNX Runtime outputs');
  }

  /** Raw session outputs → one value per request, split along dim 0 when it equals the batch size. */
  protected splitRaw(out: Record<string, InstanceType<Ort['Tensor']>>, batchSize: number): unknown[] {
    const names = Object.keys(out);
    const results: unknown[] = [];
    for (let i = 0; i < batchSize; i++) {
      const views = names.map((name) => {
        const t = out[name]!;
        const dims = [...t.dims];
        const data = t.data as Feed['data'];
        if (dims.length > 0 && dims[0] === batchSize) {
          const rowSize = product(dims.slice(1));
          return new TensorView(sliceRows(data, rowSize, i, 1), dims.slice(1), t.type as TensorInfo['dtype']);
        }
        return new TensorView(data, dims, t.type as TensorInfo['dtype']);
      });
      results.push(views.length === 1 ? views[0] : new JsonEntries(names.map((n, k) => [n, views[k]])));
    }
    return results;
  }
}

