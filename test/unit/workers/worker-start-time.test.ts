/**
 * A restarted worker keeps its id but gets a new start time, so describe shows the restart
 * (TorchServe's restarted worker shows a new pid; worker threads share the server's pid).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TsServeError } from '../../../src/errors.js';
import { ADD, makeSpec, request, tempDir, testEngine, text, writeHandler } from './helpers.js';

const EXIT_ON_DEMAND = `
export function handle(requests) {
  if (String(requests[0].body) === 'exit') process.exit(1);
  return requests.map(() => 'ok');
}
`;

test('a restarted worker keeps its id and reports the start time of its new thread', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'exit.mjs', EXIT_ON_DEMAND);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'exit.mjs' }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const [before] = rt.workers();
  await new Promise((r) => setTimeout(r, 20));

  await assert.rejects(rt.submit(request('exit', { contentType: 'text/plain' })), (err: unknown) => err instanceof TsServeError && err.message === 'Worker died.');
  assert.equal(text((await rt.submit(request('again', { contentType: 'text/plain' }))).body), 'ok');

  const [after] = rt.workers();
  assert.equal(after!.id, before!.id);
  assert.equal(after!.restarts, 1);
  assert.ok(after!.startTime.getTime() > before!.startTime.getTime(), `${after!.startTime.toISOString()} after ${before!.startTime.toISOString()}`);
});
