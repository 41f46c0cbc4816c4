/**
 * A fast path for the most common request body: a JSON (nested) array of numbers, decoded straight
 * from the bytes into a Float32Array / Float64Array. About 3× faster than JSON.parse plus
 * flattening for a 784-value sample, because no JS array or number objects are made.
 *
 * Returns undefined for anything else (objects, strings, booleans, nulls, ragged nesting, odd
 * syntax) — the caller then takes the general JSON.parse path, which also produces the error
 * messages. Mantissas below 2^53 with |exponent| ≤ 22 are computed exactly (one IEEE division or
 * multiplication, as correctly rounded as Number()); longer mantissas go through Number() for
 * float64 and are computed directly for float32 (see below).
 */
import type { Feed } from './tensor-codec.js';

const POW10 = new Float64Array([1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]);
const MAX_EXACT = 2 ** 53;
const MAX_DEPTH = 32;
const latin1 = new TextDecoder('latin1');

/**
 * One pass over the bytes. Kept monomorphic on purpose (one accumulator type, small-integer
 * state, bounds-checked reads): this loop runs for every byte of every request.
 */
export function parseNumberArray(bytes: Uint8Array, dtype: 'float32' | 'float64'): Feed | undefined {
  const n = bytes.length;
  let out = new Float64Array(Math.max(16, n >> 2));
  let count = 0;
  const dims = new Int32Array(MAX_DEPTH).fill(-1);
  const counts = new Int32Array(MAX_DEPTH);
  let leafDepth = -1;
  let depth = 0;
  // 0: a value must follow ('[' or ','), 1: right after '[' (a value or ']'), 2: after a value.
  let state = 0;
  let i = 0;
  let c = 0;
  const single = dtype === 'float32';
  let text: string | undefined;
  while (i < n) {
    c = bytes[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x2c) {
      // ','
      if (state !== 2 || depth === 0) return undefined;
      state = 0;
      i++;
      continue;
    }
    if (c === 0x5b) {
      // '['
      if (state === 2 || depth >= MAX_DEPTH) return undefined;
      if (leafDepth !== -1 && depth >= leafDepth) return undefined;
      if (depth > 0) counts[depth - 1]!++;
      counts[depth] = 0;
      depth++;
      state = 1;
      i++;
      continue;
    }
    if (c === 0x5d) {
      // ']'
      if (state === 0 || depth === 0) return undefined;
      if (state === 1 && leafDepth === -1) leafDepth = depth; // "[]": an empty innermost level
      const k = counts[depth - 1]!;
      if (dims[depth - 1] === -1) dims[depth - 1] = k;
      else if (dims[depth - 1] !== k) return undefined; // ragged
      depth--;
      state = 2;
      i++;
      if (depth === 0) break;
      continue;
    }
    // A number: only where a value may start, at the innermost level.
    if (state === 2 || depth === 0) return undefined;
    if (leafDepth === -1) leafDepth = depth;
    else if (leafDepth !== depth) return undefined;
    const start = i;
    let neg = false;
    if (c === 0x2d) {
      neg = true;
      i++;
      c = i < n ? bytes[i]! : 0;
    }
    let mant = 0;
    let exact = true;
    let exp10 = 0;
    if (c === 0x30) {
      i++;
      c = i < n ? bytes[i]! : 0;
    } else if (c > 0x30 && c <= 0x39) {
      while (c >= 0x30 && c <= 0x39) {
        mant = mant * 10 + (c - 0x30);
        i++;
        c = i < n ? bytes[i]! : 0;
      }
      if (mant >= MAX_EXACT) exact = false;
    } else {
      return undefined;
    }
    if (c === 0x2e) {
      // '.'
      i++;
      c = i < n ? bytes[i]! : 0;
      const fracStart = i;
      while (c >= 0x30 && c <= 0x39) {
        mant = mant * 10 + (c - 0x30);
        i++;
        c = i < n ? bytes[i]! : 0;
      }
      if (i === fracStart) return undefined;
      exp10 -= i - fracStart;
      if (mant >= MAX_EXACT) exact = false;
    }
    if (c === 0x65 || c === 0x45) {
      // 'e' / 'E'
      i++;
      c = i < n ? bytes[i]! : 0;
      let eneg = false;
      if (c === 0x2d || c === 0x2b) {
        eneg = c === 0x2d;
        i++;
        c = i < n ? bytes[i]! : 0;
      }
      const expStart = i;
      let e = 0;
      while (c >= 0x30 && c <= 0x39) {
        if (e < 100000) e = e * 10 + (c - 0x30);
        i++;
        c = i < n ? bytes[i]! : 0;
      }
      if (i === expStart) return undefined;
      exp10 += eneg ? -e : e;
    }
    let v: number;
    // float32 targets tolerate a mantissa beyond 2^53 (error ≤ ~1.5 double ulps, far below a
    // float32 ulp; JSON.parse + Float32Array also rounds twice); float64 targets must be exact.
    if ((exact || single) && exp10 >= -22 && exp10 <= 22) {
      v = exp10 < 0 ? mant / POW10[-exp10]! : mant * POW10[exp10]!;
      if (neg) v = -v;
    } else {
      text ??= latin1.decode(bytes);
      v = Number(text.substring(start, i));
    }
    if (count === out.length) {
      const bigger = new Float64Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    out[count++] = v;
    counts[depth - 1]!++;
    state = 2;
  }
  if (depth !== 0 || state !== 2) return undefined;
  for (let k = i; k < n; k++) {
    const t = bytes[k]!;
    if (t !== 0x20 && t !== 0x0a && t !== 0x0d && t !== 0x09) return undefined;
  }
  const shape: number[] = [];
  for (let d = 0; d < leafDepth; d++) shape.push(dims[d]!);
  const values = out.subarray(0, count);
  return { data: dtype === 'float32' ? new Float32Array(values) : values.slice(), dims: shape };
}

