import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { LARGE_BODY_BYTES, decodeResults, decodeRun, encodeResults, encodeRun, transferable, type EncodedBodies } from '../../../src/workers/wire.js';
import type { BatchResult, RunBatch, WireResult } from '../../../src/workers/messages.js';

/** Sends a payload through a real MessagePort, as a worker would receive it. */
async function throughPort(payload: EncodedBodies, transfer: ArrayBuffer[]): Promise<EncodedBodies> {
  const { port1, port2 } = new MessageChannel();
  try {
    const got = new Promise<EncodedBodies>((resolve) => port2.once('message', resolve));
    port1.postMessage(payload, transfer);
    return await got;
  } finally {
    port1.close();
    port2.close();
  }
}

const bytes = (s: string) => Buffer.from(s, 'utf8');

test('run batches survive the trip: ids, headers, params, bodies small and large', async () => {
  const big = new Uint8Array(LARGE_BODY_BYTES + 3).map((_, i) => i % 251);
  const batches: RunBatch[] = [
    {
      batchId: 7,
      requests: [
        {
          id: 'r1',
          protocol: 'ts',
          explain: false,
          headers: { 'content-type': 'application/json', explain: 'False', url_path: 'a/b', 'x-ünï': 'v"\n' },
          params: [{ name: 'body', contentType: 'application/json', value: bytes('[[1,2,3,4]]') }],
        },
        {
          id: 'r2',
          protocol: 'oip-v2',
          explain: true,
          headers: {},
          params: [
            { name: 'data', contentType: 'image/png', filename: 'x.png', value: big },
            { name: 'field', value: bytes('plain') },
            { name: 'empty', value: new Uint8Array(0) },
          ],
        },
      ],
    },
    { batchId: 8, requests: [{ id: 'r3', protocol: 'kserve-v1', explain: false, headers: { a: '' }, params: [] }] },
  ];
  const expected = structuredClone(batches);
  const { payload, transfer } = encodeRun(batches);
  const decoded = decodeRun(await throughPort(payload, transfer));
  assert.equal(decoded.length, 2);
  const norm = (bs: RunBatch[]) =>
    bs.map((b) => ({ ...b, requests: b.requests.map((r) => ({ ...r, params: r.params.map((p) => ({ ...p, value: [...p.value] })) })) }));
  assert.deepEqual(norm(decoded), norm(expected));
  for (const p of decoded.flatMap((b) => b.requests).flatMap((r) => r.params)) assert.ok(Buffer.isBuffer(p.value), 'handlers get Buffers');
});

test('small bodies travel in one packed buffer, large ones in their own', () => {
  const small = Array.from({ length: 5 }, (_, i) => bytes(`[${i}]`));
  const big = new Uint8Array(LARGE_BODY_BYTES);
  const requests = [...small, big].map((value, i) => ({ id: `r${i}`, protocol: 'ts' as const, explain: false, headers: {}, params: [{ name: 'body', value }] }));
  const { payload, transfer } = encodeRun([{ batchId: 1, requests }]);
  assert.equal(payload.large.length, 1);
  assert.equal(payload.packed!.byteLength, small.reduce((n, b) => n + b.byteLength, 0));
  assert.equal(transfer.length, 2, 'the packed buffer and the large body');
  assert.equal(payload.large[0], big, 'a body that owns its buffer is not copied');
  assert.equal(small[0]!.toString(), '[0]', 'small bodies are copied, the originals stay usable');
});

test('a header or parameter that is not a string or bytes is refused, not coerced', () => {
  const req = { id: 'r', protocol: 'ts' as const, explain: false, headers: { n: 5 as unknown as string }, params: [] };
  assert.throws(() => encodeRun([{ batchId: 1, requests: [req] }]), /header "n" is not a string/);
  const req2 = { id: 'r', protocol: 'ts' as const, explain: false, headers: {}, params: [{ name: 'body', value: 'text' as unknown as Uint8Array }] };
  assert.throws(() => encodeRun([{ batchId: 1, requests: [req2] }]), /parameter "body" is not bytes/);
});

test('results survive the trip: answers with and without content type and headers, errors, holes', async () => {
  const holey: WireResult[] = new Array(3);
  holey[0] = { ok: true, response: { status: 200, body: bytes('[2]') } };
  holey[2] = { ok: false, error: { code: 'BAD_INPUT', status: 400, type: 'BadRequestException', message: 'wrong shape', protocol: 'ts' } };
  const batches: BatchResult[] = [
    { batchId: 1, handlerMillis: 0.25, results: holey },
    {
      batchId: 2,
      handlerMillis: 3,
      results: [{ ok: true, response: { status: 201, contentType: 'application/json', headers: { 'x-a': '1' }, body: new Uint8Array(LARGE_BODY_BYTES + 1).fill(7) } }],
    },
  ];
  const { payload, transfer } = encodeResults(batches);
  const [b1, b2] = decodeResults(await throughPort(payload, transfer));
  assert.equal(b1!.batchId, 1);
  assert.equal(b1!.handlerMillis, 0.25);
  assert.equal(b1!.results.length, 3);
  const r0 = b1!.results[0]!;
  assert.ok(r0.ok);
  assert.equal(r0.response.status, 200);
  assert.equal(Buffer.from(r0.response.body).toString(), '[2]');
  assert.equal(r0.response.contentType, undefined);
  assert.equal(r0.response.headers, undefined);
  assert.equal(b1!.results[1], undefined, 'a missing answer stays missing (the pool fails that request)');
  assert.deepEqual(b1!.results[2], holey[2]);
  const r1 = b2!.results[0]!;
  assert.ok(r1.ok);
  assert.equal(r1.response.status, 201);
  assert.equal(r1.response.contentType, 'application/json');
  assert.deepEqual(r1.response.headers, { 'x-a': '1' });
  assert.equal(r1.response.body.byteLength, LARGE_BODY_BYTES + 1);
  assert.ok(r1.response.body.every((v) => v === 7));
});

test('transferable copies only a view that does not own its buffer', () => {
  const own = new Uint8Array(4);
  assert.equal(transferable(own), own);
  const pooled = Buffer.from('abc');
  const copy = transferable(pooled);
  assert.notEqual(copy.buffer, pooled.buffer);
  assert.deepEqual([...copy], [...pooled]);
  const shared = new Uint8Array(new SharedArrayBuffer(4), 1, 2);
  assert.equal(transferable(shared), shared, 'shared memory is never transferred');
});
