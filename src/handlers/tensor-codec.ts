/**
 * JSON values and raw bytes → tensor data, with input errors that name what the model expects
 * (issue #5: `Input "input" expects float32 [N,784]: got 783 values per sample`).
 */
import { InvalidInputError } from '../errors.js';
import { DTYPES, isDynamicDim, product, toHalf, type TensorData } from '../workers/io.js';
import type { TensorDtype, TensorInfo } from '../workers/types.js';

export type Feed = { data: TensorData; dims: number[] };

/** Allocates room for `n` elements of `dtype`. */
export function allocTensorData(dtype: TensorDtype, n: number): TensorData {
  const ctor = DTYPES[dtype].ctor;
  return ctor === null ? new Array<string>(n) : new ctor(n);
}

function short(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 24 ? s.slice(0, 21) + '...' : s;
}

type Convert = (v: unknown) => number | bigint | string | undefined;

/** Returns the element converter for `dtype` and a phrase for what it accepts. */
function converter(dtype: TensorDtype): { convert: Convert; wants: string } {
  const info = DTYPES[dtype];
  switch (info.kind) {
    case 'float':
      return { convert: (v) => (typeof v === 'number' ? v : undefined), wants: 'a number' };
    case 'half':
      return { convert: (v) => (typeof v === 'number' ? toHalf(v) : undefined), wants: 'a number' };
    case 'int': {
      const { min, max } = info as { min: number; max: number };
      return {
        convert: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined),
        wants: `an integer in [${min}, ${max}]`,
      };
    }
    case 'bigint': {
      const unsigned = dtype === 'uint64';
      const lo = unsigned ? 0n : -(2n ** 63n);
      const hi = unsigned ? 2n ** 64n - 1n : 2n ** 63n - 1n;
      return {
        convert: (v) => {
          let b: bigint;
          if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
          else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
          else return undefined;
          return b >= lo && b <= hi ? b : undefined;
        },
        wants: unsigned ? 'an unsigned 64-bit integer' : 'a 64-bit integer',
      };
    }
    case 'bool':
      return {
        convert: (v) => (v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : undefined),
        wants: 'a boolean',
      };
    case 'string':
      return { convert: (v) => (typeof v === 'string' ? v : undefined), wants: 'a string' };
  }
}

/**
 * Deepest array nesting accepted in a JSON tensor: far beyond the rank of any real tensor, and
 * shallow enough that walking it cannot overflow the stack (a client's `[[[[...]]]]` is a 400).
 */
export const MAX_JSON_TENSOR_DEPTH = 64;

/**
 * Flattens a (possibly nested) JSON array into tensor data of `dtype`. `dims` is the nesting found.
 * Throws a string saying what is wrong (the caller prefixes the input description).
 */
export function flattenJson(value: unknown, dtype: TensorDtype): Feed {
  const { convert, wants } = converter(dtype);
  const dims: number[] = [];
  let x = value;
  while (Array.isArray(x)) {
    if (dims.length === MAX_JSON_TENSOR_DEPTH) throw `arrays are nested more than ${MAX_JSON_TENSOR_DEPTH} levels deep`;
    dims.push(x.length);
    if (x.length === 0) break;
    x = x[0];
  }
  const out = allocTensorData(dtype, product(dims)) as unknown as { [i: number]: number | bigint | string; length: number };
  let k = 0;
  const put = (v: unknown): void => {
    const c = convert(v);
    if (c === undefined) {
      throw Array.isArray(v) ? 'nested arrays have unequal lengths' : `element ${k} is ${short(v)}, not ${wants}`;
    }
    out[k++] = c;
  };
  if (dims.length === 0) {
    const one = allocTensorData(dtype, 1) as unknown as { [i: number]: number | bigint | string };
    const c = convert(value);
    if (c === undefined) throw `got ${short(value)}, not ${wants}`;
    one[0] = c;
    return { data: one as unknown as TensorData, dims };
  }
  const last = dims.length - 1;
  const fill = (arr: unknown, depth: number): void => {
    if (!Array.isArray(arr) || arr.length !== dims[depth]) throw 'nested arrays have unequal lengths';
    if (depth === last) {
      for (let i = 0; i < arr.length; i++) put(arr[i]);
    } else {
      for (let i = 0; i < arr.length; i++) fill(arr[i], depth + 1);
    }
  };
  fill(value, 0);
  return { data: out as unknown as TensorData, dims };
}

/** `Input "input" expects float32 [N,784]` — prefix of every message about that input. */
export function inputPrefix(info: TensorInfo): string {
  return `Input "${info.name}" expects ${info.dtype} [${info.shape.join(',')}]`;
}

export function inputError(info: TensorInfo, detail: string): InvalidInputError {
  return new InvalidInputError(`${inputPrefix(info)}: ${detail}`);
}

/**
 * Checks one sample's data against the expected dims (the model shape without the batch dim for
 * batchable models, the full shape otherwise) and returns the dims to use. With only fixed dims,
 * any nesting with the right number of values is accepted (flat or nested, like OIP); symbolic
 * dims are taken from the data, which must then have the same rank.
 */
export function fitDims(info: TensorInfo, feed: Feed, expected: readonly (number | string)[], perSample: boolean): number[] {
  const unit = perSample ? ' per sample' : '';
  if (expected.every((d) => !isDynamicDim(d))) {
    const want = product(expected as number[]);
    if (feed.data.length !== want) {
      throw inputError(info, `got ${feed.data.length} value${feed.data.length === 1 ? '' : 's'}${unit}, expected ${want}`);
    }
    return expected as number[];
  }
  const got = feed.dims;
  const ok =
    got.length === expected.length && expected.every((d, i) => isDynamicDim(d) || d === got[i]);
  if (!ok) throw inputError(info, `got shape [${got.join(',')}]${unit}`);
  return got;
}

/** A JSON sample value → feed for `info`, checked against `expected` dims. */
export function jsonToFeed(info: TensorInfo, value: unknown, expected: readonly (number | string)[], perSample: boolean): Feed {
  let feed: Feed;
  try {
    feed = flattenJson(value, info.dtype);
  } catch (reason) {
    if (typeof reason === 'string') throw inputError(info, reason);
    throw reason;
  }
  return { data: feed.data, dims: fitDims(info, feed, expected, perSample) };
}

/** Little-endian raw bytes → typed array (a view when aligned, else a copy). Not for strings. */
export function bytesToData(dtype: TensorDtype, bytes: Uint8Array): TensorData {
  const { ctor, bytes: size } = DTYPES[dtype];
  if (ctor === null) throw new Error('string tensors have no fixed-size raw form');
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new ctor(copy.buffer, 0, n);
}

/**
 * A raw `application/octet-stream` body → feed. Fixed expected dims must match the byte length
 * exactly; one symbolic dim (besides batch) is inferred from it.
 */
export function rawToFeed(info: TensorInfo, bytes: Uint8Array, expected: readonly (number | string)[], perSample: boolean): Feed {
  const size = DTYPES[info.dtype].bytes;
  const unit = perSample ? ' per sample' : '';
  if (size === 0) throw inputError(info, 'raw bytes cannot carry string elements; send JSON');
  const dynamic = expected.filter((d) => isDynamicDim(d)).length;
  const fixed = product(expected.filter((d) => !isDynamicDim(d)) as number[]);
  if (dynamic === 0) {
    const want = fixed * size;
    if (bytes.byteLength !== want) {
      throw inputError(info, `got ${bytes.byteLength} bytes${unit}, expected ${want} (${fixed} little-endian ${info.dtype} values)`);
    }
    return { data: bytesToData(info.dtype, bytes), dims: expected as number[] };
  }
  if (dynamic > 1) throw inputError(info, 'raw bytes cannot fill more than one variable dimension; send JSON');
  if (fixed === 0 || bytes.byteLength % (fixed * size) !== 0) {
    throw inputError(info, `got ${bytes.byteLength} bytes${unit}, not a multiple of ${fixed * size}`);
  }
  const free = bytes.byteLength / (fixed * size);
  return {
    data: bytesToData(info.dtype, bytes),
    dims: expected.map((d) => (isDynamicDim(d) ? free : (d as number))),
  };
}

/** Copies feeds that share dims into one tensor stacked along a new leading (batch) dim. */
export function stack(dtype: TensorDtype, parts: readonly { data: TensorData; rows: number }[], rowSize: number): TensorData {
  let total = 0;
  for (const p of parts) total += p.rows;
  const out = allocTensorData(dtype, total * rowSize);
  let off = 0;
  if (Array.isArray(out)) {
    for (const p of parts) {
      const src = p.data as string[];
      for (let i = 0; i < src.length; i++) out[off + i] = src[i]!;
      off += p.rows * rowSize;
    }
  } else {
    for (const p of parts) {
      (out as Float32Array).set(p.data as Float32Array, off);
      off += p.rows * rowSize;
    }
  }
  return out;
}

/** Rows [start, start+rows) of a batch-major tensor (a view for typed arrays). */
export function sliceRows(data: TensorData, rowSize: number, start: number, rows: number): TensorData {
  if (Array.isArray(data)) return data.slice(start * rowSize, (start + rows) * rowSize);
  return (data as Float32Array).subarray(start * rowSize, (start + rows) * rowSize);
}
