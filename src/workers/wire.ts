/**
 * How `run` and `results` messages cross the thread boundary (messages.ts). Structured clone of
 * request records and answers — objects of headers and parameters, arrays of batches — costs the
 * sending and the receiving thread more per request than a small model's whole run (measured:
 * about twice what this codec costs, docs/performance.md). So a message is encoded as
 *
 *   meta    one JSON string: every record's fields, with each body replaced by a reference
 *   packed  one ArrayBuffer (transferred) holding the small bodies back to back
 *   large   bodies of LARGE_BODY_BYTES or more, each transferred on its own (never copied twice)
 *
 * and decoded on the other side into the same records, with bodies as Buffer views of `packed`
 * or of their own transferred buffer. A reference is an offset into `packed` (>= 0) or
 * `-1 - k` for `large[k]`.
 */
import type { RequestErrorWire, BatchResult, RunBatch, WireResult } from './messages.js';
import type { InferenceRequest, InferenceResponse, Protocol, RequestParam } from './types.js';

/** Bodies this big travel in their own transferred buffer instead of being copied into `packed`. */
export const LARGE_BODY_BYTES = 64 * 1024;

/** Encoded message payload (the `kind` is added by the caller). */
export type EncodedBodies = { meta: string; packed: ArrayBuffer | null; large: Uint8Array[] };

/** [name, contentType, filename, body reference, byte length] */
type ParamTuple = [string, string | null, string | null, number, number];
/** [id, protocol, explain, headers as [name, value, ...], params] */
type RequestTuple = [string, Protocol, 0 | 1, string[], ParamTuple[]];
/** [1, status, contentType, headers, body reference, byte length] | [0, error] | null (no answer) */
type ResultTuple = [1, number, string | null, Record<string, string> | null, number, number] | [0, RequestErrorWire] | null;

/** Copies `u8` unless it owns its whole ArrayBuffer, so the result can be transferred. */
export function transferable(u8: Uint8Array): Uint8Array {
  const buf = u8.buffer;
  if (buf instanceof ArrayBuffer && u8.byteOffset === 0 && u8.byteLength === buf.byteLength) return u8;
  if (!(buf instanceof ArrayBuffer)) return u8; // shared memory: cloned by reference, never transferred
  const copy = new Uint8Array(u8.byteLength);
  copy.set(u8);
  return copy;
}

/** Collects bodies: small ones are copied into one buffer at the end, large ones kept apart. */
class BodyPacker {
  private small: Uint8Array[] = [];
  private smallBytes = 0;
  readonly large: Uint8Array[] = [];

  /** The body's reference (see the module comment). */
  add(body: Uint8Array): number {
    if (body.byteLength >= LARGE_BODY_BYTES || !(body.buffer instanceof ArrayBuffer)) {
      this.large.push(transferable(body));
      return -this.large.length;
    }
    const at = this.smallBytes;
    this.small.push(body);
    this.smallBytes += body.byteLength;
    return at;
  }

  finish(meta: unknown): { payload: EncodedBodies; transfer: ArrayBuffer[] } {
    let packed: ArrayBuffer | null = null;
    if (this.small.length > 0) {
      const out = new Uint8Array(this.smallBytes);
      let at = 0;
      for (const b of this.small) {
        out.set(b, at);
        at += b.byteLength;
      }
      packed = out.buffer;
    }
    const transfer: ArrayBuffer[] = [];
    if (packed !== null) transfer.push(packed);
    for (const b of this.large) if (b.buffer instanceof ArrayBuffer && !transfer.includes(b.buffer)) transfer.push(b.buffer);
    return { payload: { meta: JSON.stringify(meta), packed, large: this.large }, transfer };
  }
}

/** A Buffer view of a body reference in a decoded message. */
function bodyAt(payload: EncodedBodies, ref: number, length: number): Buffer {
  if (ref >= 0) return Buffer.from(payload.packed!, ref, length);
  const u8 = payload.large[-1 - ref]!;
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

export function encodeRun(batches: readonly RunBatch[]): { payload: EncodedBodies; transfer: ArrayBuffer[] } {
  const bodies = new BodyPacker();
  const meta = batches.map((b): [number, RequestTuple[]] => [
    b.batchId,
    b.requests.map((r): RequestTuple => {
      const headers: string[] = [];
      for (const name in r.headers) {
        const value = r.headers[name];
        // JSON would turn anything else into null or text silently: refuse it, as a clone would.
        if (typeof value !== 'string') throw new TypeError(`request ${r.id}: header "${name}" is not a string`);
        headers.push(name, value);
      }
      const params = r.params.map((p): ParamTuple => {
        if (!(p.value instanceof Uint8Array)) throw new TypeError(`request ${r.id}: parameter "${p.name}" is not bytes`);
        return [p.name, p.contentType ?? null, p.filename ?? null, bodies.add(p.value), p.value.byteLength];
      });
      return [r.id, r.protocol, r.explain ? 1 : 0, headers, params];
    }),
  ]);
  return bodies.finish(meta);
}

export function decodeRun(payload: EncodedBodies): RunBatch[] {
  const meta = JSON.parse(payload.meta) as [number, RequestTuple[]][];
  return meta.map(([batchId, requests]) => ({
    batchId,
    requests: requests.map(([id, protocol, explain, flat, params]): InferenceRequest => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!;
      return {
        id,
        protocol,
        explain: explain === 1,
        headers,
        params: params.map(([name, contentType, filename, ref, length]) => {
          const p: RequestParam = { name, value: bodyAt(payload, ref, length) };
          if (contentType !== null) p.contentType = contentType;
          if (filename !== null) p.filename = filename;
          return p;
        }),
      };
    }),
  }));
}

export function encodeResults(batches: readonly BatchResult[]): { payload: EncodedBodies; transfer: ArrayBuffer[] } {
  const bodies = new BodyPacker();
  const meta = batches.map((b): [number, number, ResultTuple[]] => [
    b.batchId,
    b.handlerMillis,
    // Array.from: a holey results array must not leave holes (they would read as answers).
    Array.from(b.results, (r): ResultTuple => {
      if (r === undefined) return null;
      if (!r.ok) return [0, r.error];
      const res = r.response;
      return [1, res.status, res.contentType ?? null, res.headers ?? null, bodies.add(res.body), res.body.byteLength];
    }),
  ]);
  return bodies.finish(meta);
}

export function decodeResults(payload: EncodedBodies): BatchResult[] {
  const meta = JSON.parse(payload.meta) as [number, number, ResultTuple[]][];
  return meta.map(([batchId, handlerMillis, results]) => ({
    batchId,
    handlerMillis,
    results: results.map((t): WireResult => {
      // A missing answer reads as a dead worker on the main thread (worker-pool.ts).
      if (t === null) return undefined as unknown as WireResult;
      if (t[0] === 0) return { ok: false, error: t[1] };
      const [, status, contentType, headers, ref, length] = t;
      const response: InferenceResponse = { status, body: bodyAt(payload, ref, length) };
      if (contentType !== null) response.contentType = contentType;
      if (headers !== null) response.headers = headers;
      return { ok: true, response };
    }),
  }));
}
