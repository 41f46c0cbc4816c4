import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatExposition, formatGoDouble, formatJavaDouble, formatLogLine } from '../../../src/metrics/format.js';

test('formatJavaDouble prints like Java Double.toString', () => {
  const cases: [number, string][] = [
    [8, '8.0'],
    [0, '0.0'],
    [-3, '-3.0'],
    [290371.129, '290371.129'],
    [0.5, '0.5'],
    [0.001, '0.001'],
    [9999999, '9999999.0'],
    [1e7, '1.0E7'],
    [12345678, '1.2345678E7'],
    [0.0001, '1.0E-4'],
    [1.5e-7, '1.5E-7'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
  ];
  for (const [value, expected] of cases) assert.equal(formatJavaDouble(value), expected, String(value));
  assert.equal(formatGoDouble(Infinity), '+Inf');
  assert.equal(formatGoDouble(-Infinity), '-Inf');
  assert.equal(formatGoDouble(2.5), '2.5');
});

test('formatExposition matches TorchServe text format 0.0.4 (spec §10.1)', () => {
  const text = formatExposition([
    {
      name: 'Requests2XX',
      help: 'Torchserve prometheus counter metric with unit: Count',
      type: 'counter',
      samples: [{ name: 'Requests2XX', labels: [['Level', 'Host'], ['Hostname', 'my-host']], value: 8 }],
    },
    { name: 'QueueTime', help: 'Torchserve prometheus gauge metric with unit: Milliseconds', type: 'gauge', samples: [] },
    {
      name: 'h',
      help: 'line\\one\nline two',
      type: 'histogram',
      samples: [
        { name: 'h_bucket', labels: [['m', 'a"b\\c\nd'], ['le', '+Inf']], value: 1 },
        { name: 'h_sum', labels: [], value: 1e7 },
      ],
    },
  ]);
  assert.equal(
    text,
    '# HELP Requests2XX Torchserve prometheus counter metric with unit: Count\n' +
      '# TYPE Requests2XX counter\n' +
      'Requests2XX{Level="Host",Hostname="my-host",} 8.0\n' +
      '# HELP QueueTime Torchserve prometheus gauge metric with unit: Milliseconds\n' +
      '# TYPE QueueTime gauge\n' +
      '# HELP h line\\\\one\\nline two\n' +
      '# TYPE h histogram\n' +
      'h_bucket{m="a\\"b\\\\c\\nd",le="+Inf",} 1.0\n' +
      'h_sum 1.0E7\n',
  );
  assert.match(text, /Requests2XX\{Level="Host",Hostname=".*",\} \d+\.\d+/); // TorchServe's postman check
  assert.equal(formatExposition([]), '');
});

test('formatLogLine writes TorchServe log-mode lines (spec §10.3)', () => {
  assert.equal(
    formatLogLine({ name: 'Requests4XX', unit: 'Count', value: 1, dimensions: [['Level', 'Host']], hostname: 'ip-172-31-11-32', timestampSec: 1717105563 }),
    'Requests4XX.Count:1.0|#Level:Host|#hostname:ip-172-31-11-32,timestamp:1717105563',
  );
  assert.equal(
    formatLogLine({
      name: 'ts_inference_latency_microseconds',
      unit: 'Microseconds',
      value: 290371.129,
      dimensions: [['model_name', 'mlp'], ['model_version', 'default']],
      hostname: 'h',
      timestampSec: 1717105563.9,
    }),
    'ts_inference_latency_microseconds.Microseconds:290371.129|#model_name:mlp,model_version:default|#hostname:h,timestamp:1717105563',
  );
  assert.equal(
    formatLogLine({ name: 'HandlerTime', unit: 'ms', value: 12, dimensions: [['ModelName', 'm'], ['Level', 'Model']], hostname: 'h', timestampSec: 5, requestId: 'abc' }),
    'HandlerTime.ms:12.0|#ModelName:m,Level:Model|#hostname:h,requestID:abc,timestamp:5',
  );
  assert.equal(
    formatLogLine({ name: 'x', unit: 'Count', value: 1, dimensions: [], hostname: 'h', timestampSec: 5 }),
    'x.Count:1.0|#|#hostname:h,timestamp:5',
  );
});
