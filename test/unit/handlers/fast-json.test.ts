import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNumberArray } from '../../../src/handlers/fast-json.js';
import { flattenJson } from '../../../src/handlers/tensor-codec.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('parses nested number arrays exactly like JSON.parse + flattening', () => {
  const cases = [
    '[1,2,3]',
    ' [ [1, -2.5], [3e2, 4E-3] ] \n',
    '[[[0]],[[-0]]]',
    '[]',
    '[[],[]]',
    '[1.7976931348623157e308, 5e-324, 123456789012345678901234567890, 0.1, -0.30000000000000004]',
    '[[0.0019607843137254832,-0.4980392156862745],[1e22,1e23]]',
  ];
  for (const text of cases) {
    const want = flattenJson(JSON.parse(text), 'float64');
    const got = parseNumberArray(enc(text), 'float64');
    assert.ok(got !== undefined, text);
    assert.deepEqual(got.dims, want.dims, text);
    assert.deepEqual(Array.from(got.data as Float64Array), Array.from(want.data as Float64Array), text);
    const got32 = parseNumberArray(enc(text), 'float32')!;
    assert.deepEqual(Array.from(got32.data as Float32Array), Array.from(flattenJson(JSON.parse(text), 'float32').data as Float32Array), text);
  }
});

test('random floats round-trip to the same float32 and float64 values', () => {
  const xs = Array.from({ length: 20000 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1 * 10 ** ((i % 13) - 6));
  const bytes = enc(JSON.stringify(xs));
  assert.deepEqual(Array.from(parseNumberArray(bytes, 'float64')!.data as Float64Array), xs);
  assert.deepEqual(Array.from(parseNumberArray(bytes, 'float32')!.data as Float32Array), xs.map(Math.fround));
});

test('anything else is left to the general path', () => {
  for (const text of [
    '',
    '5',
    '{"a": [1]}',
    '[1,]',
    '[,1]',
    '[1 2]',
    '[1,[2]]',
    '[[1],2]',
    '[[1,2],[3]]',
    '[[1],[]]',
    '[1]]',
    '[[1]',
    '[1] x',
    '["1"]',
    '[true]',
    '[null]',
    '[01]',
    '[1.]',
    '[.5]',
    '[-]',
    '[1e]',
    '[+1]',
    '[NaN]',
  ]) {
    assert.equal(parseNumberArray(enc(text), 'float32'), undefined, text);
  }
});
