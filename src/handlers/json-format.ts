/**
 * JSON writing for handler answers. Produces exactly what `JSON.stringify(value, null, indent)`
 * would (TorchServe answers with Python's `json.dumps(value, indent=2)`, spec §8.3), and also
 * writes typed arrays, BigInts (exact digits) and `TensorView`s (a flat typed array with dims,
 * written as nested arrays) without first building nested JS arrays.
 */
import { fromHalf, product, type TensorData } from '../workers/io.js';
import type { TensorDtype } from '../workers/types.js';

/** A tensor (or a slice of one) to be written as nested JSON arrays. */
export class TensorView {
  readonly data: TensorData;
  readonly dims: readonly number[];
  readonly dtype: TensorDtype;

  constructor(data: TensorData, dims: readonly number[], dtype: TensorDtype) {
    this.data = data;
    this.dims = dims;
    this.dtype = dtype;
  }

  /** Nested JS arrays (for handlers that call JSON.stringify themselves). BigInts become numbers. */
  toJSON(): unknown {
    return JSON.parse(formatJson(this, 0));
  }

  /** Element i as a JSON-able JS value. */
  element(i: number): number | boolean | string {
    return elementValue(this.data, this.dtype, i);
  }
}

export function elementValue(data: TensorData, dtype: TensorDtype, i: number): number | boolean | string {
  const v = data[i]!;
  if (dtype === 'bool') return v !== 0;
  if (dtype === 'float16') return fromHalf(v as number);
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function elementJson(data: TensorData, dtype: TensorDtype, i: number): string {
  const v = data[i]!;
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'bigint':
      return v.toString();
    default:
      if (dtype === 'bool') return v !== 0 ? 'true' : 'false';
      return numberJson(dtype === 'float16' ? fromHalf(v) : v);
  }
}

function numberJson(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** An object written with its keys in this order (JS objects put integer-like keys first). */
export class JsonEntries {
  readonly entries: readonly (readonly [string, unknown])[];
  constructor(entries: readonly (readonly [string, unknown])[]) {
    this.entries = entries;
  }

  toJSON(): unknown {
    return JSON.parse(formatJson(this, 0));
  }
}

/** Same output as `JSON.stringify(value, null, indent)` (indent 0 = compact), with the extras above. */
export function formatJson(value: unknown, indent = 2): string {
  const out = write(value, indent, '');
  return out === undefined ? 'null' : out;
}

function isTypedArray(v: unknown): v is ArrayLike<number | bigint> & ArrayBufferView {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function write(v: unknown, indent: number, cur: string): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return numberJson(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (v instanceof TensorView) return writeTensor(v, indent, cur);
  if (v instanceof JsonEntries) return writeEntries(v.entries, indent, cur);
  if (isTypedArray(v)) {
    const items: string[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      items[i] = typeof x === 'bigint' ? x.toString() : numberJson(x);
    }
    return joinArray(items, indent, cur);
  }
  const obj = v as { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return write(obj.toJSON(), indent, cur);
  const inner = indent > 0 ? cur + ' '.repeat(indent) : '';
  if (Array.isArray(v)) {
    return joinArray(
      v.map((x) => write(x, indent, inner) ?? 'null'),
      indent,
      cur,
    );
  }
  return writeEntries(Object.entries(v as object), indent, cur);
}

function writeEntries(entries: readonly (readonly [string, unknown])[], indent: number, cur: string): string {
  const inner = indent > 0 ? cur + ' '.repeat(indent) : '';
  const parts: string[] = [];
  for (const [key, value] of entries) {
    const s = write(value, indent, inner);
    if (s !== undefined) parts.push(JSON.stringify(key) + (indent > 0 ? ': ' : ':') + s);
  }
  if (parts.length === 0) return '{}';
  if (indent === 0) return '{' + parts.join(',') + '}';
  return '{\n' + inner + parts.join(',\n' + inner) + '\n' + cur + '}';
}

function joinArray(items: string[], indent: number, cur: string): string {
  if (items.length === 0) return '[]';
  if (indent === 0) return '[' + items.join(',') + ']';
  const inner = cur + ' '.repeat(indent);
  return '[\n' + inner + items.join(',\n' + inner) + '\n' + cur + ']';
}

function writeTensor(t: TensorView, indent: number, cur: string): string {
  if (t.dims.length === 0) return elementJson(t.data, t.dtype, 0);
  const rec = (depth: number, offset: number, c: string): string => {
    const n = t.dims[depth]!;
    const items: string[] = new Array(n);
    if (depth === t.dims.length - 1) {
      for (let i = 0; i < n; i++) items[i] = elementJson(t.data, t.dtype, offset + i);
    } else {
      const stride = product(t.dims.slice(depth + 1));
      const inner = indent > 0 ? c + ' '.repeat(indent) : '';
      for (let i = 0; i < n; i++) items[i] = rec(depth + 1, offset + i * stride, inner);
    }
    return joinArray(items, indent, c);
  };
  return rec(0, 0, cur);
}

/** Flat JSON array of a tensor's elements (OIP `data`). */
export function formatFlat(data: TensorData, dtype: TensorDtype): string {
  const n = data.length;
  if (n === 0) return '[]';
  if (dtype === 'float32' || dtype === 'float64') {
    const a = data as Float32Array | Float64Array;
    let finite = true;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(a[i]!)) {
        finite = false;
        break;
      }
    }
    if (finite) return '[' + a.join(',') + ']';
  }
  const items: string[] = new Array(n);
  for (let i = 0; i < n; i++) items[i] = elementJson(data, dtype, i);
  return '[' + items.join(',') + ']';
}
