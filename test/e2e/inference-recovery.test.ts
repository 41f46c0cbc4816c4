/**
 * Issue #5 "Done when", black box against the real CLI: a request past responseTimeout answers
 * 500 `Worker died.` and a replacement worker serves the next one; a worker killed mid-request
 * (process.exit in the handler, an error thrown from a timer) answers 5xx, requests queued behind
 * it are still served, describe shows the restarted worker, and the server and other models keep
 * working; /ping turns Unhealthy (500) while a model's workers are below minWorkers and Healthy
 * again once that model is gone. One server for the whole file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sharedModelBytes } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, startBackground, type Workspace } from '../helpers/tsserve.js';
import {
  addToStore,
  assertTsError,
  buildArchive,
  cleanupScope,
  clientFor,
  describeWorkers,
  eventually,
  waitModelsReady,
  type Client,
} from './inference-support.js';

/** Misbehaves on demand; otherwise answers which worker served and how often this module did. */
const CHAOS_HANDLER = `
let served = 0;
export async function handle(requests, context) {
  const cmd = String(requests[0].body);
  if (cmd === 'spin') { const end = Date.now() + 30000; while (Date.now() < end) {} }
  if (cmd === 'exit') process.exit(1);
  if (cmd === 'timer') {
    setTimeout(() => { throw new Error('thrown from a timer'); }, 0);
    return new Promise(() => {});
  }
  served++;
  return requests.map(() => ({ workerId: context.workerId, served }));
}
`;

const BROKEN_HANDLER = `
export function initialize() {
  throw new Error('this model never loads');
}
`;

function restarts(metricsText: string, model: string): number {
  const m = new RegExp(`^tsserve_worker_restarts_total\\{[^}]*model_name="${model}"[^}]*\\} (\\S+)$`, 'm').exec(metricsText);
  return m ? Number(m[1]) : 0;
}

describe('worker failures on the real server', () => {
  const scope = cleanupScope();
  let ws: Workspace;
  let c: Client;

  const send = (model: string, cmd: string, timeoutMs = 20_000) =>
    c.infer(`/predictions/${model}`, { body: cmd, headers: { 'content-type': 'text/plain' }, timeoutMs });
  const served = async (model: string) => {
    const res = await send(model, 'hello');
    assert.equal(res.status, 200, `${model}: ${res.text}`);
    return res.json<{ workerId: string; served: number }>();
  };
  const addStillWorks = async () => {
    const res = await c.postJson('/predictions/add', [1, 2, 3, 4]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), [2, 3, 4, 5]);
  };
  const metricsText = async () => (await httpRequest(`${c.metrics}/metrics`)).text;

  before(async () => {
    ws = makeWorkspace(scope);
    const one = 'minWorkers: 1\nmaxWorkers: 1\n';
    const args = [
      await addToStore(ws, { name: 'add', model: await sharedModelBytes('add.onnx'), yaml: one }),
      await addToStore(ws, { name: 'sleepy', model: await sharedModelBytes('add.onnx'), handler: 'chaos.mjs', handlerSource: CHAOS_HANDLER, yaml: `${one}responseTimeout: 1\n` }),
      await addToStore(ws, { name: 'crashy', model: await sharedModelBytes('add.onnx'), handler: 'chaos.mjs', handlerSource: CHAOS_HANDLER, yaml: `${one}responseTimeout: 60\n` }),
    ];
    const server = await startBackground(scope, ws, ['--ncs', '--enable-model-api', '--models', ...args]);
    c = clientFor(ws, server);
    assert.ok(c.metrics, 'metrics listener');
    await waitModelsReady(c, ['add', 'sleepy', 'crashy']);
  });
  after(() => scope.run());

  test('response timeout: 500 "Worker died.", other models keep answering, a replacement serves the next request', async () => {
    const first = await served('sleepy');
    assert.equal(first.served, 1);
    const [before] = await describeWorkers(c, 'sleepy');
    assert.equal(before!.status, 'READY');
    await new Promise((r) => setTimeout(r, 5)); // start times have millisecond resolution

    const started = Date.now();
    const spinning = send('sleepy', 'spin');
    // While its worker spins, another model is served.
    await addStillWorks();
    const died = await spinning;
    assert.equal(assertTsError(died, 500, 'InternalServerException', 'timeout'), 'Worker died.');
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 10_000, `answered at the 1 s response timeout, not after the 30 s loop (${took} ms)`);

    const next = await served('sleepy');
    assert.equal(next.served, 1, 'a fresh worker (its handler module was loaded anew)');
    assert.equal(next.workerId, first.workerId, 'the replacement keeps the worker id');
    const [after] = await describeWorkers(c, 'sleepy');
    assert.equal(after!.id, before!.id);
    assert.equal(after!.status, 'READY');
    assert.notEqual(after!.startTime, before!.startTime, 'describe shows the worker was restarted');
    assert.equal(restarts(await metricsText(), 'sleepy'), 1);
  });

  test('a worker that exits mid-request: 5xx for that request, queued requests are still served, the worker is replaced', async () => {
    const first = await served('crashy');
    const [before] = await describeWorkers(c, 'crashy');
    await new Promise((r) => setTimeout(r, 5));

    const started = Date.now();
    const exiting = send('crashy', 'exit');
    await new Promise((r) => setTimeout(r, 50));
    const queued = [send('crashy', 'hello'), send('crashy', 'hello')];
    const died = await exiting;
    assert.ok(died.status >= 500 && died.status < 600, `5xx: ${died.status} ${died.text}`);
    assert.equal(assertTsError(died, 500, 'InternalServerException', 'exit'), 'Worker died.');
    assert.ok(Date.now() - started < 10_000, 'the crash is noticed at once, not at the 60 s response timeout');
    for (const res of await Promise.all(queued)) {
      assert.equal(res.status, 200, `a request queued behind the crash is served: ${res.text}`);
      assert.equal(res.json<{ workerId: string }>().workerId, first.workerId);
    }
    const [after] = await describeWorkers(c, 'crashy');
    assert.equal(after!.id, before!.id);
    assert.equal(after!.status, 'READY');
    assert.notEqual(after!.startTime, before!.startTime, 'describe shows the worker was restarted');
    await addStillWorks();
  });

  test('an error thrown from a handler timer kills the worker: 5xx, then a replacement serves', async () => {
    const restartsBefore = restarts(await metricsText(), 'crashy');
    const died = await send('crashy', 'timer');
    assert.equal(assertTsError(died, 500, 'InternalServerException', 'timer'), 'Worker died.');
    const next = await served('crashy');
    assert.equal(next.served, 1, 'a fresh worker');
    assert.equal(restarts(await metricsText(), 'crashy'), restartsBefore + 1);
    const ping = await httpRequest(`${c.inference}/ping`);
    assert.deepEqual([ping.status, ping.json()], [200, { status: 'Healthy' }]);
    await addStillWorks();
  });

  test('/ping: Unhealthy while a model has fewer workers than minWorkers, Healthy again once it is gone', async () => {
    fs.writeFileSync(
      path.join(ws.modelStore, 'broken.mar'),
      await buildArchive({
        name: 'broken',
        model: await sharedModelBytes('add.onnx'),
        handler: 'broken.mjs',
        handlerSource: BROKEN_HANDLER,
        // Give up on the worker at once instead of retrying for TorchServe's default 300 s.
        yaml: 'minWorkers: 1\nmaxWorkers: 1\nmaxRetryTimeoutInSec: 0\n',
      }),
    );
    const reg = await c.manage('/models?url=broken.mar&synchronous=false', { method: 'POST' });
    assert.equal(reg.status, 202, reg.text);
    // Sent while its worker is still trying to load: it waits in the queue, and is answered
    // (503, not left hanging) once the worker is given up.
    const early = await c.postJson('/predictions/broken', [1, 2, 3, 4]);
    assertTsError(early, 503, 'ServiceUnavailableException', 'queued while loading');

    const ping = await eventually('/ping Unhealthy', async () => {
      const res = await httpRequest(`${c.inference}/ping`);
      return res.status === 500 ? res : undefined;
    });
    assert.deepEqual(ping.json(), { status: 'Unhealthy' });
    const ready = await httpRequest(`${c.inference}/v2/health/ready`);
    assert.equal(ready.status, 503, ready.text);
    assert.deepEqual((await describeWorkers(c, 'broken')).map((w) => w.status), ['UNLOADING']);
    const refused = await c.postJson('/predictions/broken', [1, 2, 3, 4]);
    assertTsError(refused, 503, 'ServiceUnavailableException', 'no worker');
    assert.equal(refused.headers['retry-after'], '1');

    // The other models are unaffected.
    await addStillWorks();
    assert.equal((await served('crashy')).workerId.length > 0, true);

    const del = await c.manage('/models/broken', { method: 'DELETE' });
    assert.equal(del.status, 200, del.text);
    const healthy = await httpRequest(`${c.inference}/ping`);
    assert.deepEqual([healthy.status, healthy.json()], [200, { status: 'Healthy' }]);
  });
});
