/**
 * Tensor element types and model IO helpers shared by the main thread (batching decisions) and the
 * worker threads (decoding / encoding tensors).
 */
import type { ModelIO, TensorDtype, TensorInfo } from './types.js';

export type NumericArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** Tensor contents: a typed array, or strings for `string` tensors. */
export type TensorData = NumericArray | string[];

type TypedArrayCtor = {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** How a JSON value becomes an element: float, integer (range-checked), 64-bit integer, bool, half, string. */
export type ElementKind = 'float' | 'int' | 'bigint' | 'bool' | 'half' | 'string';

export type DtypeInfo = {
  /** Typed array holding the elements (`null` for strings). */
  ctor: TypedArrayCtor | null;
  bytes: number;
  /** Open Inference Protocol datatype name (spec §6.1). */
  oip: string;
  kind: ElementKind;
  min?: number;
  max?: number;
};

export const DTYPES: Readonly<Record<TensorDtype, DtypeInfo>> = {
  float32: { ctor: Float32Array, bytes: 4, oip: 'FP32', kind: 'float' },
  float64: { ctor: Float64Array, bytes: 8, oip: 'FP64', kind: 'float' },
  // onnxruntime-node carries float16 as raw IEEE half bits in a Uint16Array.
  float16: { ctor: Uint16Array, bytes: 2, oip: 'FP16', kind: 'half' },
  int8: { ctor: Int8Array, bytes: 1, oip: 'INT8', kind: 'int', min: -128, max: 127 },
  int16: { ctor: Int16Array, bytes: 2, oip: 'INT16', kind: 'int', min: -32768, max: 32767 },
  int32: { ctor: Int32Array, bytes: 4, oip: 'INT32', kind: 'int', min: -2147483648, max: 2147483647 },
  int64: { ctor: BigInt64Array, bytes: 8, oip: 'INT64', kind: 'bigint', min: -(2 ** 63), max: 2 ** 63 - 1 },
  uint8: { ctor: Uint8Array, bytes: 1, oip: 'UINT8', kind: 'int', min: 0, max: 255 },
  uint16: { ctor: Uint16Array, bytes: 2, oip: 'UINT16', kind: 'int', min: 0, max: 65535 },
  uint32: { ctor: Uint32Array, bytes: 4, oip: 'UINT32', kind: 'int', min: 0, max: 4294967295 },
  uint64: { ctor: BigUint64Array, bytes: 8, oip: 'UINT64', kind: 'bigint', min: 0, max: 2 ** 64 - 1 },
  bool: { ctor: Uint8Array, bytes: 1, oip: 'BOOL', kind: 'bool' },
  string: { ctor: null, bytes: 0, oip: 'BYTES', kind: 'string' },
};

const OIP_TO_DTYPE: Readonly<Record<string, TensorDtype>> = Object.fromEntries(
  (Object.entries(DTYPES) as [TensorDtype, DtypeInfo][]).map(([dt, info]) => [info.oip, dt]),
);

export function isTensorDtype(s: string): s is TensorDtype {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** OIP datatype (`FP32`) → ONNX Runtime type (`float32`); undefined for unknown names (incl. BF16). */
export function dtypeFromOip(datatype: string): TensorDtype | undefined {
  return OIP_TO_DTYPE[datatype];
}

/** A dimension is dynamic when ONNX gives it a symbolic name, or -1 / unknown. */
export function isDynamicDim(d: number | string): boolean {
  return typeof d === 'string' || d < 0;
}

/**
 * Spec §8.5 / issue #5: a model is batchable (requests stacked on dim 0) only when every input's
 * first dimension is dynamic, and every output whose shape is known has a dynamic first dimension.
 */
export function isBatchable(io: ModelIO): boolean {
  if (io.inputs.length === 0) return false;
  for (const t of io.inputs) {
    if (t.shape.length === 0 || !isDynamicDim(t.shape[0]!)) return false;
  }
  for (const t of io.outputs) {
    if (t.shape.length > 0 && !isDynamicDim(t.shape[0]!)) return false;
  }
  return true;
}

/** `float32 [N,784]` (ONNX names) — used in every input error message. */
export function describeTensor(t: TensorInfo, style: 'onnx' | 'oip' = 'onnx'): string {
  if (style === 'oip') {
    return `${DTYPES[t.dtype].oip} [${t.shape.map((d) => (isDynamicDim(d) ? -1 : d)).join(',')}]`;
  }
  return `${t.dtype} [${t.shape.join(',')}]`;
}

export function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

// ---- IEEE half precision ---------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float → IEEE 754 half bits (round to nearest even). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** IEEE 754 half bits → float. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
