/**
 * Issue #8, black box: one request id ties a request's lines together across the logs of the real
 * CLI (docs/logging.md "Request ids"). A custom JS handler prints while it serves; the client's
 * x-request-id (or the generated one) comes back in the response and is on the access line, on the
 * model log lines the handler printed, and on the server log line of a failed request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sharedModelBytes } from '../fixtures/archive-builder.js';
import { makeWorkspace, startBackground } from '../helpers/tsserve.js';
import { addToStore, clientFor, eventually, waitModelsReady } from './inference-support.js';

const HANDLER = `
export function handle(requests, context) {
  return requests.map((r) => {
    console.log('handling ' + r.body);
    if (r.body === 'fail') throw new Error('the handler refuses');
    return 'ok ' + r.body;
  });
}
`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Record = { [k: string]: unknown };

function jsonLines(file: string): Record[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record);
}

test('a request id is in the response, the access line, the handler output and the server log', async (t) => {
  const ws = makeWorkspace(t);
  const arg = await addToStore(ws, { name: 'talker', model: await sharedModelBytes('add.onnx'), handler: 'talker.mjs', handlerSource: HANDLER });
  const server = await startBackground(t, ws, ['--models', arg]);
  const c = clientFor(ws, server);
  await waitModelsReady(c, ['talker']);
  const text = { 'content-type': 'text/plain' };

  const traced = await c.infer('/predictions/talker', { body: 'hello', headers: { ...text, 'x-request-id': 'trace-me-123' } });
  assert.equal(traced.status, 200, traced.text);
  assert.equal(traced.text, 'ok hello');
  assert.equal(traced.headers['x-request-id'], 'trace-me-123');

  const failed = await c.infer('/predictions/talker', { body: 'fail', headers: { ...text, 'x-request-id': 'trace-fail-7' } });
  assert.equal(failed.status, 500, failed.text);
  assert.equal(failed.headers['x-request-id'], 'trace-fail-7');

  const anonymous = await c.infer('/predictions/talker', { body: 'anon', headers: text });
  assert.equal(anonymous.status, 200);
  const generated = String(anonymous.headers['x-request-id']);
  assert.match(generated, UUID);

  const logs = path.join(ws.dir, 'logs');
  const modelLines = await eventually(
    'the handler lines in model_log.log',
    async () => {
      const l = jsonLines(path.join(logs, 'model_log.log'));
      return l.some((r) => r.msg === 'handling anon') && l;
    },
    5000,
    50,
  );
  const printed = (msg: string) => modelLines.filter((r) => r.msg === msg);

  // The handler's console output carries the id of the request it was serving, and its worker.
  const hello = printed('handling hello');
  assert.equal(hello.length, 1);
  assert.equal(hello[0]!.reqId, 'trace-me-123');
  assert.equal(hello[0]!.model, 'talker');
  assert.equal(hello[0]!.version, '1.0');
  // The model runs on the default layout (two workers on two cores): either may serve it.
  const workerId = String(hello[0]!.workerId);
  assert.match(workerId, /^900\d$/);
  assert.equal(hello[0]!.worker, `W-${workerId}-talker_1.0`);
  assert.equal(printed('handling anon')[0]!.reqId, generated);
  assert.equal(printed('handling fail')[0]!.reqId, 'trace-fail-7');
  // The failure's stack goes to the model log with the id too.
  assert.ok(modelLines.some((r) => r.reqId === 'trace-fail-7' && r.level === 50 && /the handler refuses/.test(String(r.msg))));
  // Lines printed outside any request carry no id.
  assert.ok(modelLines.every((r) => r.reqId === undefined || ['trace-me-123', 'trace-fail-7', generated].includes(String(r.reqId))));

  // The server log's line about the failed request.
  const serverLines = jsonLines(path.join(logs, 'ts_log.log'));
  const failure = serverLines.filter((r) => r.reqId === 'trace-fail-7');
  assert.equal(failure.length, 1, JSON.stringify(failure));
  assert.equal(failure[0]!.msg, 'request failed');
  assert.equal(failure[0]!.api, 'inference');
  assert.equal(failure[0]!.status, 500);
  assert.equal(serverLines.filter((r) => r.reqId === 'trace-me-123').length, 0, 'a request that went well leaves no server line');

  // One access line each, ending with the id.
  // The access line is written when the response has gone out, so the client may look first.
  const access = await eventually(
    'the three access lines',
    async () => {
      const text = fs.readFileSync(path.join(logs, 'access_log.log'), 'utf8');
      return [' reqId=trace-me-123', ' reqId=trace-fail-7', ` reqId=${generated}`].every((end) => text.split('\n').some((l) => l.endsWith(end))) && text;
    },
    5000,
    50,
  );
  for (const [id, status] of [['trace-me-123', 200], ['trace-fail-7', 500], [generated, 200]] as const) {
    const mine = access.split('\n').filter((l) => l.endsWith(` reqId=${id}`));
    assert.equal(mine.length, 1, `access line of ${id}`);
    assert.match(mine[0]!, new RegExp(` - /127\\.0\\.0\\.1:\\d+ "POST /predictions/talker HTTP/1\\.1" ${status} \\d+ reqId=`));
  }
  // A client grepping for its id finds exactly these lines.
  const everywhere = ['access_log.log', 'ts_log.log', 'model_log.log'].map((f) => fs.readFileSync(path.join(logs, f), 'utf8')).join('\n');
  assert.equal(everywhere.split('\n').filter((l) => l.includes('trace-fail-7')).length, 1 + 1 + modelLines.filter((r) => r.reqId === 'trace-fail-7').length);
});
