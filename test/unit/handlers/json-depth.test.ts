/**
 * JSON tensors nested absurdly deep are a client's mistake (400 naming the input), not a stack
 * overflow inside the worker (which answered 500 "Prediction failed: Maximum call stack size
 * exceeded").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../../src/errors.js';
import { parseOipRequest } from '../../../src/handlers/oip.js';
import { flattenJson, jsonToFeed, MAX_JSON_TENSOR_DEPTH } from '../../../src/handlers/tensor-codec.js';
import type { ModelIO, TensorInfo } from '../../../src/workers/types.js';

const deep = (levels: number, leaf: unknown = 1): unknown => JSON.parse('['.repeat(levels) + JSON.stringify(leaf) + ']'.repeat(levels));

const INPUT: TensorInfo = { name: 'input', dtype: 'float32', shape: ['N', 4] };

test('nesting up to MAX_JSON_TENSOR_DEPTH is read; deeper is refused with a reason, never a stack overflow', () => {
  assert.deepEqual(flattenJson(deep(MAX_JSON_TENSOR_DEPTH), 'float32').dims, new Array(MAX_JSON_TENSOR_DEPTH).fill(1));
  assert.throws(() => flattenJson(deep(MAX_JSON_TENSOR_DEPTH + 1), 'float32'), (reason: unknown) => reason === `arrays are nested more than ${MAX_JSON_TENSOR_DEPTH} levels deep`);
  for (const levels of [200_000, 1_000_000]) {
    assert.throws(() => flattenJson(JSON.parse('['.repeat(levels) + ']'.repeat(levels)), 'float32'), (reason: unknown) => typeof reason === 'string');
  }
});

test('a deeply nested sample or OIP tensor is a 400 naming the input', () => {
  const body = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
  assert.throws(() => jsonToFeed(INPUT, body, [4], true), (err: unknown) => {
    assert.ok(err instanceof InvalidInputError);
    assert.equal(err.status, 400);
    assert.equal(err.message, `Input "input" expects float32 [N,4]: arrays are nested more than ${MAX_JSON_TENSOR_DEPTH} levels deep`);
    return true;
  });
  const io: ModelIO = { inputs: [INPUT], outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 4] }] };
  assert.throws(
    () => parseOipRequest({ body: undefined, parsed: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: body }] }, headerLength: undefined, io, batchable: true, modelName: 'add' }),
    (err: unknown) => err instanceof InvalidInputError && /^Input "input" expects FP32 \[-1,4\]: arrays are nested more than 64 levels deep$/.test(err.message),
  );
});
