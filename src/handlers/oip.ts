/**
 * Open Inference Protocol v2 request decoding and response encoding (open-inference-protocol.md
 * §5–§8): JSON tensors (nested or flat `data`) and the binary tensor extension
 * (`inference-header-content-length`, raw little-endian tensors after the JSON header).
 */
import { InvalidInputError } from '../errors.js';
import { DTYPES, dtypeFromOip, isDynamicDim, product, type TensorData } from '../workers/io.js';
import type { ModelIO, TensorInfo } from '../workers/types.js';
import { formatFlat } from './json-format.js';
import { bytesToData, flattenJson, type Feed } from './tensor-codec.js';

export const HEADER_LENGTH = 'inference-header-content-length';

export type OipOutputRequest = { name: string; binary: boolean };

export type OipRequest = {
  id?: string;
  /** Rows along the batch dimension (1 for models without one). */
  rows: number;
  /** Per model input: data and dims without the batch dim (batchable) or the full dims. */
  inputs: Record<string, Feed>;
  /** Outputs to return, in order, and whether each goes in binary. */
  outputs: OipOutputRequest[];
};

function bad(message: string): InvalidInputError {
  return new InvalidInputError(message);
}

export function oipPrefix(info: TensorInfo): string {
  return `Input "${info.name}" expects ${DTYPES[info.dtype].oip} [${info.shape.map((d) => (isDynamicDim(d) ? -1 : d)).join(',')}]`;
}

function listTensors(ts: readonly TensorInfo[]): string {
  return ts.map((t) => `"${t.name}" (${DTYPES[t.dtype].oip} [${t.shape.map((d) => (isDynamicDim(d) ? -1 : d)).join(',')}])`).join(', ');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Splits a body into the JSON header and the binary part, per the header length (if any). */
export function splitBody(body: Uint8Array, headerLength: string | undefined): { json: Uint8Array; binary: Uint8Array | undefined } {
  if (headerLength === undefined) return { json: body, binary: undefined };
  const n = /^\s*\d+\s*$/.test(headerLength) ? Number(headerLength) : NaN;
  if (!Number.isSafeInteger(n) || n > body.byteLength) {
    throw bad(`Invalid ${HEADER_LENGTH}: ${JSON.stringify(headerLength)} (body is ${body.byteLength} bytes)`);
  }
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

export function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw bad(`Unrecognized request format: ${(err as Error).message}`);
  }
}

/** Reads `count` length-prefixed BYTES elements (4-byte little-endian length each). */
function readBytesElements(bytes: Uint8Array, info: TensorInfo, count: number): string[] {
  const out: string[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off < bytes.byteLength) {
    if (off + 4 > bytes.byteLength) throw bad(`${oipPrefix(info)}: truncated BYTES element length at byte ${off}`);
    const len = view.getUint32(off, true);
    off += 4;
    if (off + len > bytes.byteLength) throw bad(`${oipPrefix(info)}: BYTES element ${out.length} runs past binary_data_size`);
    out.push(utf8.decode(bytes.subarray(off, off + len)));
    off += len;
  }
  if (out.length !== count) throw bad(`${oipPrefix(info)}: shape needs ${count} elements, binary data holds ${out.length}`);
  return out;
}

/**
 * Decodes one OIP request against the model. `parsed` is the JSON body when it was already
 * decoded (application/json without the binary extension).
 */
export function parseOipRequest(opts: {
  body: Uint8Array | undefined;
  parsed?: unknown;
  headerLength: string | undefined;
  io: ModelIO;
  batchable: boolean;
  modelName: string;
}): OipRequest {
  const { io, batchable, modelName } = opts;
  let root: unknown;
  let binary: Uint8Array | undefined;
  if (opts.parsed !== undefined && opts.headerLength === undefined) {
    root = opts.parsed;
  } else {
    if (opts.body === undefined) throw bad('Unrecognized request format: empty body');
    const parts = splitBody(opts.body, opts.headerLength);
    root = parseJsonBytes(parts.json);
    binary = parts.binary;
  }
  if (!isObject(root)) throw bad('Unrecognized request format: the body must be a JSON object with "inputs"');
  const reqInputs = root.inputs;
  if (!Array.isArray(reqInputs)) throw bad('Unrecognized request format: "inputs" must be an array of tensors');
  let id: string | undefined;
  if (root.id !== undefined && root.id !== null) {
    if (typeof root.id !== 'string') throw bad('Unrecognized request format: "id" must be a string');
    id = root.id;
  }
  const params = isObject(root.parameters) ? root.parameters : {};

  const byName = new Map(io.inputs.map((t) => [t.name, t]));
  const inputs: Record<string, Feed> = {};
  const fullDims: Record<string, number[]> = {};
  let binOffset = 0;
  for (let i = 0; i < reqInputs.length; i++) {
    const t: unknown = reqInputs[i];
    if (!isObject(t) || typeof t.name !== 'string') throw bad(`Unrecognized request format: input ${i} has no "name"`);
    const info = byName.get(t.name);
    if (info === undefined) throw bad(`Unknown input "${t.name}": model "${modelName}" expects ${listTensors(io.inputs)}`);
    if (inputs[info.name] !== undefined) throw bad(`Input "${info.name}" is given more than once`);
    const prefix = oipPrefix(info);
    if (typeof t.datatype !== 'string' || dtypeFromOip(t.datatype) === undefined) {
      throw bad(`invalid datatype ${String(t.datatype)} in the input "${info.name}"; ${prefix}`);
    }
    if (dtypeFromOip(t.datatype) !== info.dtype) throw bad(`${prefix}: got datatype ${t.datatype}`);
    // A bare integer n is accepted as shape [n] (some TorchServe samples send it, spec §6.3).
    const shapeRaw: unknown = typeof t.shape === 'number' ? [t.shape] : t.shape;
    if (!Array.isArray(shapeRaw) || !shapeRaw.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(`${prefix}: "shape" must be an array of non-negative integers`);
    }
    const shape = shapeRaw as number[];
    const shapeOk = shape.length === info.shape.length && info.shape.every((d, k) => isDynamicDim(d) || d === shape[k]);
    if (!shapeOk) throw bad(`${prefix}: got shape [${shape.join(',')}]`);
    const count = product(shape);
    const tParams = isObject(t.parameters) ? t.parameters : {};
    let data: TensorData;
    if (tParams.binary_data_size !== undefined) {
      const size = tParams.binary_data_size;
      if (binary === undefined) {
        throw bad(`Input "${info.name}" sets binary_data_size but the request has no ${HEADER_LENGTH} header`);
      }
      if (!Number.isSafeInteger(size) || (size as number) < 0) throw bad(`${prefix}: binary_data_size must be a non-negative integer`);
      const n = size as number;
      if (binOffset + n > binary.byteLength) {
        throw bad(`${prefix}: binary_data_size ${n} runs past the end of the body (${binary.byteLength - binOffset} bytes left)`);
      }
      const bytes = binary.subarray(binOffset, binOffset + n);
      binOffset += n;
      if (info.dtype === 'string') {
        data = readBytesElements(bytes, info, count);
      } else {
        const want = count * DTYPES[info.dtype].bytes;
        if (n !== want) throw bad(`${prefix}: shape [${shape.join(',')}] needs ${want} bytes, binary_data_size is ${n}`);
        data = bytesToData(info.dtype, bytes);
      }
    } else {
      if (t.data === undefined) {
        if (binary !== undefined && tParams.binary_data_size === undefined) {
          throw bad(`'binary_data_size' is not specified for input '${info.name}' for model '${modelName}'`);
        }
        throw bad(`'data' field is missing for input '${info.name}' for model '${modelName}'`);
      }
      if (info.dtype === 'float16') {
        throw bad(`Receiving FP16 data via JSON is not supported. Please use the binary data format for input ${info.name}`);
      }
      try {
        data = flattenJson(t.data, info.dtype).data;
      } catch (reason) {
        if (typeof reason === 'string') throw bad(`${prefix}: ${reason}`);
        throw reason;
      }
      if (data.length !== count) {
        throw bad(`${prefix}: shape [${shape.join(',')}] needs ${count} values, got ${data.length}`);
      }
    }
    inputs[info.name] = { data, dims: batchable ? shape.slice(1) : shape };
    fullDims[info.name] = shape;
  }
  if (binary !== undefined && binOffset !== binary.byteLength) {
    throw bad(`Binary data is ${binary.byteLength} bytes but the inputs' binary_data_size add up to ${binOffset}`);
  }
  for (const info of io.inputs) {
    if (inputs[info.name] === undefined) {
      throw bad(`Missing input "${info.name}": model "${modelName}" expects ${listTensors(io.inputs)}`);
    }
  }
  let rows = 1;
  if (batchable) {
    const first = io.inputs[0]!;
    rows = fullDims[first.name]![0]!;
    for (const info of io.inputs) {
      const n = fullDims[info.name]![0]!;
      if (n !== rows) {
        throw bad(`Inputs disagree on the batch dimension: "${first.name}" has ${rows}, "${info.name}" has ${n}`);
      }
    }
  }

  const binaryDefault = params.binary_data_output === true;
  let outputs: OipOutputRequest[];
  if (root.outputs === undefined || root.outputs === null) {
    outputs = io.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  } else {
    if (!Array.isArray(root.outputs)) throw bad('Unrecognized request format: "outputs" must be an array');
    const known = new Set(io.outputs.map((o) => o.name));
    outputs = root.outputs.map((o: unknown, i: number) => {
      if (!isObject(o) || typeof o.name !== 'string') throw bad(`Unrecognized request format: output ${i} has no "name"`);
      if (!known.has(o.name)) throw bad(`Unknown output "${o.name}": model "${modelName}" has outputs ${listTensors(io.outputs)}`);
      const p = isObject(o.parameters) ? o.parameters : {};
      return { name: o.name, binary: typeof p.binary_data === 'boolean' ? p.binary_data : binaryDefault };
    });
  }
  return { id, rows, inputs, outputs };
}

function rawBytes(data: TensorData): Uint8Array {
  if (Array.isArray(data)) {
    const enc = new TextEncoder();
    const parts = data.map((s) => enc.encode(s));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
    const view = new DataView(out.buffer);
    let off = 0;
    for (const p of parts) {
      view.setUint32(off, p.byteLength, true);
      out.set(p, off + 4);
      off += 4 + p.byteLength;
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The response for one request (§5.2): JSON, or — when any output was asked for in binary —
 * the JSON header followed by the raw tensors, with `Inference-Header-Content-Length`.
 */
export function encodeOipResponse(opts: {
  modelName: string;
  modelVersion: string;
  request: OipRequest;
  io: ModelIO;
  /** Output tensors: data and full dims (batch included). */
  outputs: Record<string, Feed>;
}): { body: Uint8Array; contentType: string; headers?: Record<string, string> } {
  const dtypes = new Map(opts.io.outputs.map((o) => [o.name, o.dtype]));
  const parts: string[] = [];
  const blobs: Uint8Array[] = [];
  for (const want of opts.request.outputs) {
    const t = opts.outputs[want.name];
    const dtype = dtypes.get(want.name);
    if (t === undefined || dtype === undefined) continue;
    const head = `{"name":${JSON.stringify(want.name)},"datatype":"${DTYPES[dtype].oip}","shape":[${t.dims.join(',')}]`;
    if (want.binary) {
      const raw = rawBytes(t.data);
      blobs.push(raw);
      parts.push(`${head},"parameters":{"binary_data_size":${raw.byteLength}}}`);
    } else {
      parts.push(`${head},"data":${formatFlat(t.data, dtype)}}`);
    }
  }
  const idPart = opts.request.id !== undefined ? `,"id":${JSON.stringify(opts.request.id)}` : '';
  const json =
    `{"model_name":${JSON.stringify(opts.modelName)},"model_version":${JSON.stringify(opts.modelVersion)}${idPart},` +
    `"outputs":[${parts.join(',')}]}`;
  const header = new TextEncoder().encode(json);
  if (blobs.length === 0) return { body: header, contentType: 'application/json' };
  const total = header.byteLength + blobs.reduce((n, b) => n + b.byteLength, 0);
  const body = new Uint8Array(total);
  body.set(header, 0);
  let off = header.byteLength;
  for (const b of blobs) {
    body.set(b, off);
    off += b.byteLength;
  }
  return {
    body,
    contentType: 'application/octet-stream',
    headers: { 'Inference-Header-Content-Length': String(header.byteLength) },
  };
}
