import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PropertiesSyntaxError,
  decodePropertiesFile,
  formatProperties,
  parseProperties,
  resolvePlaceholders,
  toPropertyMap,
} from '../../../src/config/properties.js';

const kv = (text: string) => parseProperties(text).map((e) => [e.key, e.value]);

test('separators: =, :, whitespace, with blanks around them', () => {
  assert.deepEqual(kv('a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf   =6\ng  7'), [
    ['a', '1'], ['b', '2'], ['c', '3'], ['d', '4'], ['e', '5'], ['f', '6'], ['g', '7'],
  ]);
});

test('a whitespace separator may be followed by one = or :, the second one is part of the value', () => {
  assert.deepEqual(kv('a = =x\nb : :y\nc==z'), [['a', '=x'], ['b', ':y'], ['c', '=z']]);
});

test('leading blanks ignored, trailing blanks of the value kept', () => {
  assert.deepEqual(kv('   \t key = value  \t'), [['key', 'value  \t']]);
});

test('key without value, and empty key', () => {
  assert.deepEqual(kv('lonely\nempty=\n=novalue'), [['lonely', ''], ['empty', ''], ['', 'novalue']]);
});

test('comments start with # or ! at line start only; blank lines skipped', () => {
  assert.deepEqual(kv('# c1\n! c2\n   # indented comment\n\n  \na=1 # not a comment\nb=x!y'), [
    ['a', '1 # not a comment'], ['b', 'x!y'],
  ]);
});

test('continuation: odd trailing backslashes join the next line, its leading blanks dropped', () => {
  assert.deepEqual(kv('models={\\\n    "m": 1\\\n    }\nnext=1'), [['models', '{"m": 1}'], ['next', '1']]);
  // Even number of backslashes: an escaped backslash, no continuation.
  assert.deepEqual(kv('a=x\\\\\nb=2'), [['a', 'x\\'], ['b', '2']]);
  // Three backslashes: escaped backslash + continuation.
  assert.deepEqual(kv('a=x\\\\\\\n   y'), [['a', 'x\\y']]);
});

test('a comment line never continues', () => {
  assert.deepEqual(kv('# comment \\\na=1'), [['a', '1']]);
});

test('a continuation line starting with # is not a comment', () => {
  assert.deepEqual(kv('a=1\\\n  # 2'), [['a', '1# 2']]);
});

test('continuation inside the key', () => {
  assert.deepEqual(kv('ke\\\n  y=v'), [['key', 'v']]);
});

test('continuation at end of input is dropped', () => {
  assert.deepEqual(kv('a=1\\'), [['a', '1']]);
});

test('escapes \\t \\n \\r \\f \\\\ \\= \\: \\# \\! \\uXXXX; other backslashes dropped', () => {
  assert.deepEqual(kv('a=x\\ty\\nz\\r\\f\nb=\\\\ \\= \\: \\# \\!\nc=\\u00e9\\u0041\nd=\\q\\z'), [
    ['a', 'x\ty\nz\r\f'], ['b', '\\ = : # !'], ['c', 'éA'], ['d', 'qz'],
  ]);
});

test('escaped separators and blanks in keys', () => {
  assert.deepEqual(kv('a\\=b=1\nc\\:d:2\ne\\ f 3'), [['a=b', '1'], ['c:d', '2'], ['e f', '3']]);
});

test('malformed \\u escape is a syntax error with its line', () => {
  assert.throws(() => parseProperties('a=1\nb=\\u12x4'), (err: unknown) => err instanceof PropertiesSyntaxError && err.line === 2);
});

test('CR, LF and CRLF line endings; line numbers of logical lines', () => {
  const entries = parseProperties('a=1\r\nb=2\rc=3\n# x\nd=\\\n  4\ne=5');
  assert.deepEqual(entries.map((e) => [e.key, e.line]), [['a', 1], ['b', 2], ['c', 3], ['d', 5], ['e', 7]]);
});

test('repeated key keeps the last value', () => {
  const map = toPropertyMap(parseProperties('a=1\nb=2\na=3'));
  assert.equal(map.get('a')?.value, '3');
  assert.equal(map.get('a')?.line, 3);
});

test('keys are case-sensitive', () => {
  const map = toPropertyMap(parseProperties('Key=1\nkey=2'));
  assert.equal(map.get('Key')?.value, '1');
  assert.equal(map.get('key')?.value, '2');
});

test('decodePropertiesFile: UTF-8 when valid, else ISO-8859-1', () => {
  assert.equal(decodePropertiesFile(Buffer.from('a=é', 'utf8')), 'a=é');
  assert.equal(decodePropertiesFile(Buffer.from([0x61, 0x3d, 0xe9])), 'a=é');
});

test('$$NAME$$ placeholders are replaced from env; unset names reported', () => {
  assert.deepEqual(resolvePlaceholders('http://$$HOST$$:$$PORT$$', { HOST: 'h', PORT: '1' }), { value: 'http://h:1', missing: [] });
  assert.deepEqual(resolvePlaceholders('$$NOPE$$', {}), { value: '$$NOPE$$', missing: ['NOPE'] });
  // NAME needs at least two characters.
  assert.deepEqual(resolvePlaceholders('$$A$$', { A: 'x' }), { value: '$$A$$', missing: [] });
});

test('formatProperties escapes : and = like TorchServe snapshots, with # header lines', () => {
  const text = formatProperties({ inference_address: 'https://127.0.0.1:8443', 'a key': ' lead', t: 'x\ty#!\\é' }, ['Saving snapshot', 'Mon Jan 01']);
  assert.equal(
    text,
    '#Saving snapshot\n#Mon Jan 01\ninference_address=https\\://127.0.0.1\\:8443\na\\ key=\\ lead\nt=x\\ty\\#\\!\\\\\\u00E9\n',
  );
});

test('formatProperties round-trips through parseProperties', () => {
  const values: Array<[string, string]> = [
    ['model_snapshot', '{\n  "name": "x=y: z",\n  "models": {}\n}'],
    ['weird key=:', '  spaces  '],
    ['unicode', 'ünï €'],
    ['empty', ''],
  ];
  const back = parseProperties(formatProperties(values, ['header']));
  assert.deepEqual(back.map((e) => [e.key, e.value]), values);
});
