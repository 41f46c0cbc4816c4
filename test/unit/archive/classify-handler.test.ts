import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidModelError } from '../../../src/errors.js';
import { classifyHandler, pythonHandlerError } from '../../../src/archive/classify-handler.js';

test('no handler means the tensor handler', () => {
  assert.deepEqual(classifyHandler(undefined), { kind: 'builtin', name: 'tensor' });
  assert.deepEqual(classifyHandler(''), { kind: 'builtin', name: 'tensor' });
  assert.deepEqual(classifyHandler('  '), { kind: 'builtin', name: 'tensor' });
});

test('our built-ins and TorchServe names we serve', () => {
  assert.deepEqual(classifyHandler('tensor'), { kind: 'builtin', name: 'tensor' });
  assert.deepEqual(classifyHandler('image_classifier'), { kind: 'builtin', name: 'image_classifier' });
  assert.deepEqual(classifyHandler('base_handler'), { kind: 'builtin', name: 'tensor' });
});

test('JavaScript handler files', () => {
  assert.deepEqual(classifyHandler('handler.js'), { kind: 'js', file: 'handler.js' });
  assert.deepEqual(classifyHandler('lib/handler.mjs'), { kind: 'js', file: 'lib/handler.mjs' });
  assert.deepEqual(classifyHandler('handler.js:handle'), { kind: 'js', file: 'handler.js' });
});

test('Python files and TorchServe built-ins we do not provide are Python', () => {
  for (const name of ['my_handler.py', 'my_handler.py:handle', 'text_classifier', 'object_detector', 'image_segmenter', 'vllm_handler', 'pkg/module']) {
    assert.deepEqual(classifyHandler(name), { kind: 'python', name });
  }
});

test('the Python handler error names the handler and says what runs', () => {
  const err = pythonHandlerError('mnist_handler.py');
  assert.ok(err instanceof InvalidModelError);
  assert.equal(err.status, 400);
  assert.equal(
    err.message,
    'Handler "mnist_handler.py" is a Python handler; tsserve runs JavaScript handlers (.js/.mjs) and the built-in handlers tensor and image_classifier.',
  );
});
