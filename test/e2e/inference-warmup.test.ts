/**
 * Issue #5 "Warm-up", black box against the real CLI: a model_config.yaml `warmup` request runs
 * once in every worker before the worker is READY (the handler sees it first, under its own
 * request id); a warm-up that fails is a load failure — a synchronous register answers 500 and
 * the version is gone again, with the cause in the model log. One server for the file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sharedModelBytes } from '../fixtures/archive-builder.js';
import { makeWorkspace, startBackground, type Workspace } from '../helpers/tsserve.js';
import { addToStore, assertTsError, buildArchive, cleanupScope, clientFor, eventually, waitModelsReady, type Client } from './inference-support.js';

/** Remembers every request id it served, in order, and answers them. */
const RECORDER = `
const seen = [];
export function handle(requests, context) {
  for (const r of requests) {
    const id = context.requestIds[requests.indexOf(r)];
    seen.push({ id, body: String(r.body) });
    console.log('served ' + id);
  }
  return requests.map(() => ({ workerId: context.workerId, seen }));
}
`;

describe('warm-up on the real server', () => {
  const scope = cleanupScope();
  let ws: Workspace;
  let c: Client;

  before(async () => {
    ws = makeWorkspace(scope);
    const warm = await addToStore(ws, {
      name: 'warm',
      model: await sharedModelBytes('add.onnx'),
      handler: 'recorder.mjs',
      handlerSource: RECORDER,
      yaml: 'minWorkers: 2\nmaxWorkers: 2\nwarmup:\n  body: warm me\n  contentType: text/plain\n',
    });
    // The tensor handler with a sample of the wrong shape: every worker fails its warm-up.
    fs.writeFileSync(
      path.join(ws.modelStore, 'cold.mar'),
      await buildArchive({ name: 'cold', model: await sharedModelBytes('add.onnx'), yaml: 'warmup:\n  body: [1, 2]\n' }),
    );
    const server = await startBackground(scope, ws, ['--ncs', '--enable-model-api', '--models', warm]);
    c = clientFor(ws, server);
    await waitModelsReady(c, ['warm']);
  });
  after(() => scope.run());

  test('every worker runs the warm-up request before its first real one', async () => {
    const byWorker = new Map<string, { id: string; body: string }[]>();
    // Two workers: ask until both have answered.
    await eventually('answers from both workers', async () => {
      const res = await c.infer('/predictions/warm', { body: 'real', headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 200, res.text);
      const answer = res.json<{ workerId: string; seen: { id: string; body: string }[] }>();
      byWorker.set(answer.workerId, answer.seen);
      return byWorker.size === 2;
    });
    for (const [worker, seen] of byWorker) {
      assert.deepEqual(seen[0], { id: 'warmup-warm', body: 'warm me' }, `worker ${worker} saw the warm-up first`);
      assert.ok(seen.slice(1).length >= 1 && seen.slice(1).every((s) => s.body === 'real' && s.id !== 'warmup-warm'), JSON.stringify(seen));
    }
    const modelLog = fs.readFileSync(path.join(ws.dir, 'logs', 'model_log.log'), 'utf8');
    assert.equal(modelLog.split('\n').filter((l) => l.includes('served warmup-warm')).length, 2, 'one warm-up per worker');
  });

  test('a failing warm-up fails the load: synchronous register answers 500 and leaves nothing behind', async () => {
    const res = await c.manage('/models?url=cold.mar&initial_workers=1&synchronous=true', { method: 'POST' });
    assert.equal(assertTsError(res, 500, 'InternalServerException', 'register'), 'Failed to start workers for model cold version: 1.0');
    assert.equal((await c.manage('/models/cold')).status, 404);
    await eventually('the cause in the log', async () => {
      const logs = ['model_log.log', 'ts_log.log'].map((f) => {
        const file = path.join(ws.dir, 'logs', f);
        return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      });
      return logs.some((l) => /warm-up request failed: .*Input \\?"input\\?" expects float32/.test(l));
    });
    // The server and the other model are unaffected.
    const ok = await c.infer('/predictions/warm', { body: 'real', headers: { 'content-type': 'text/plain' } });
    assert.equal(ok.status, 200, ok.text);
  });
});
