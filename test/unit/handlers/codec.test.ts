import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonEntries, TensorView, formatFlat, formatJson } from '../../../src/handlers/json-format.js';
import { encodeOipResponse, parseOipRequest } from '../../../src/handlers/oip.js';
import { flattenJson, jsonToFeed, rawToFeed, stack } from '../../../src/handlers/tensor-codec.js';
import { fromHalf, isBatchable, toHalf } from '../../../src/workers/io.js';
import type { ModelIO, TensorInfo } from '../../../src/workers/types.js';

test('formatJson writes what JSON.stringify writes', () => {
  const values: unknown[] = [
    { a: [1, 2, { b: 'x', c: null }], d: {}, e: [], f: true, g: undefined, h: -0, i: 1e-7, 1: 'int key' },
    [[1.5, -2], ['é', '"q"']],
    'plain',
    42,
    null,
    [undefined, () => 1],
  ];
  for (const v of values) {
    assert.equal(formatJson(v, 2), JSON.stringify(v, null, 2));
    assert.equal(formatJson(v, 0), JSON.stringify(v));
  }
  assert.equal(formatJson(NaN), 'null');
});

test('formatJson writes tensors as nested arrays, BigInts exactly, entries in order', () => {
  const t = new TensorView(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 'float32');
  assert.equal(formatJson(t, 0), '[[1,2,3],[4,5,6]]');
  assert.equal(formatJson(t, 2), JSON.stringify([[1, 2, 3], [4, 5, 6]], null, 2));
  assert.equal(formatJson(new TensorView(new BigInt64Array([2n ** 62n]), [1], 'int64'), 0), '[4611686018427387904]');
  assert.equal(formatJson(new TensorView(new Uint8Array([1, 0]), [2], 'bool'), 0), '[true,false]');
  assert.equal(formatJson(new TensorView(new Float32Array([7]), [], 'float32'), 0), '7');
  assert.equal(formatJson(new JsonEntries([['2', 1], ['1', 2]]), 0), '{"2":1,"1":2}');
  assert.equal(JSON.stringify({ t }), '{"t":[[1,2,3],[4,5,6]]}');
  assert.equal(formatFlat(new Float32Array([0.5, Infinity]), 'float32'), '[0.5,null]');
});

test('flattenJson converts and checks elements per dtype', () => {
  assert.deepEqual(flattenJson([[1, 2], [3, 4]], 'float32'), { data: new Float32Array([1, 2, 3, 4]), dims: [2, 2] });
  assert.deepEqual(flattenJson(5, 'int32'), { data: new Int32Array([5]), dims: [] });
  assert.deepEqual(flattenJson(['-9223372036854775808', 3], 'int64').data, new BigInt64Array([-(2n ** 63n), 3n]));
  assert.deepEqual(flattenJson([true, 0, 1], 'bool').data, new Uint8Array([1, 0, 1]));
  assert.deepEqual(flattenJson(['a', 'b'], 'string').data, ['a', 'b']);
  assert.throws(() => flattenJson([300], 'uint8'), (e) => e === 'element 0 is 300, not an integer in [0, 255]');
  assert.throws(() => flattenJson([[1], [2, 3]], 'float32'), (e) => e === 'nested arrays have unequal lengths');
  assert.throws(() => flattenJson([[1, 2], 3], 'float32'), (e) => e === 'nested arrays have unequal lengths');
  assert.throws(() => flattenJson([null], 'float32'), (e) => e === 'element 0 is null, not a number');
  assert.deepEqual(flattenJson(['18446744073709551615'], 'uint64').data, new BigUint64Array([2n ** 64n - 1n]));
  assert.throws(() => flattenJson([-1], 'uint64'));
});

test('jsonToFeed and rawToFeed check the sample shape', () => {
  const info: TensorInfo = { name: 'input', dtype: 'float32', shape: ['N', 2, 3] };
  assert.deepEqual(jsonToFeed(info, [1, 2, 3, 4, 5, 6], [2, 3], true).dims, [2, 3]);
  assert.throws(() => jsonToFeed(info, [1, 2], [2, 3], true), /Input "input" expects float32 \[N,2,3\]: got 2 values per sample, expected 6$/);
  const seq: TensorInfo = { name: 'tokens', dtype: 'int64', shape: ['N', 'T'] };
  assert.deepEqual(jsonToFeed(seq, [1, 2, 3], ['T'], true).dims, [3]);
  assert.throws(() => jsonToFeed(seq, [[1], [2]], ['T'], true), /got shape \[2,1\] per sample/);
  const raw = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  assert.deepEqual(Array.from(rawToFeed(info, raw, [2, 3], true).data as Float32Array), [1, 2, 3, 4, 5, 6]);
  // Unaligned bytes are copied, not misread.
  const shifted = new Uint8Array(25);
  shifted.set(raw, 1);
  assert.deepEqual(Array.from(rawToFeed(info, shifted.subarray(1), [2, 3], true).data as Float32Array), [1, 2, 3, 4, 5, 6]);
  const varLen: TensorInfo = { name: 'x', dtype: 'float32', shape: ['N', 'T', 2] };
  assert.deepEqual(rawToFeed(varLen, new Uint8Array(24), ['T', 2], true).dims, [3, 2]);
  assert.throws(() => rawToFeed(varLen, new Uint8Array(20), ['T', 2], true), /not a multiple of 8/);
  assert.deepEqual(Array.from(stack('float32', [{ data: new Float32Array([1, 2]), rows: 1 }, { data: new Float32Array([3, 4, 5, 6]), rows: 2 }], 2) as Float32Array), [1, 2, 3, 4, 5, 6]);
});

test('half precision round trip and batchability', () => {
  for (const v of [0, 1, -2, 0.5, 65504, 6.1e-5, 1e-7]) assert.ok(Math.abs(fromHalf(toHalf(v)) - v) <= Math.abs(v) * 1e-3 + 6e-8, String(v));
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(fromHalf(0x7c00), Infinity);
  const io = (i: (number | string)[], o: (number | string)[]): ModelIO => ({
    inputs: [{ name: 'x', dtype: 'float32', shape: i }],
    outputs: [{ name: 'y', dtype: 'float32', shape: o }],
  });
  assert.equal(isBatchable(io(['N', 4], ['N', 4])), true);
  assert.equal(isBatchable(io([-1, 4], [])), true);
  assert.equal(isBatchable(io([1, 4], [1, 4])), false);
  assert.equal(isBatchable(io(['N', 4], [4])), false);
  assert.equal(isBatchable(io([], [])), false);
});

test('OIP parse: flat or nested data, BYTES in binary, scalar shapes; encode: strings in binary', () => {
  const io: ModelIO = {
    inputs: [{ name: 's', dtype: 'string', shape: ['N'] }],
    outputs: [{ name: 's', dtype: 'string', shape: ['N'] }],
  };
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 's', shape: 2, datatype: 'BYTES', parameters: { binary_data_size: 11 } }] }));
  const bin = Buffer.from([2, 0, 0, 0, 0x68, 0x69, 1, 0, 0, 0, 0x21]);
  const req = parseOipRequest({
    body: new Uint8Array(Buffer.concat([header, bin])),
    headerLength: String(header.byteLength),
    io,
    batchable: true,
    modelName: 'm',
  });
  assert.deepEqual(req.inputs.s, { data: ['hi', '!'], dims: [] });
  assert.equal(req.rows, 2);
  const res = encodeOipResponse({
    modelName: 'm',
    modelVersion: '1',
    request: { ...req, outputs: [{ name: 's', binary: true }] },
    io,
    outputs: { s: { data: ['hi', '!'], dims: [2] } },
  });
  const n = Number(res.headers!['Inference-Header-Content-Length']);
  assert.deepEqual(Array.from(res.body.subarray(n)), Array.from(bin));
  assert.throws(
    () => parseOipRequest({ body: new Uint8Array(Buffer.concat([header, bin.subarray(0, 5)])), headerLength: String(header.byteLength), io, batchable: true, modelName: 'm' }),
    /runs past the end of the body/,
  );
  const fp16: ModelIO = { inputs: [{ name: 'h', dtype: 'float16', shape: [2] }], outputs: [] };
  assert.throws(
    () => parseOipRequest({ body: undefined, parsed: { inputs: [{ name: 'h', shape: [2], datatype: 'FP16', data: [1, 2] }] }, headerLength: undefined, io: fp16, batchable: false, modelName: 'm' }),
    /Receiving FP16 data via JSON is not supported\. Please use the binary data format for input h$/,
  );
  assert.throws(() => parseOipRequest({ body: new Uint8Array(4), headerLength: '99', io, batchable: true, modelName: 'm' }), /Invalid inference-header-content-length/);
});
