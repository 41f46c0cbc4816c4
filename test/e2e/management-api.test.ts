/**
 * Black-box proof of issue #6 (spec §6, §7): every management endpoint and its errors against the
 * real `tsserve` CLI. One server serves the whole file (model API on, token auth off); each test
 * uses its own model names, so no test depends on another's state.
 *
 * The server's TMPDIR is `<workspace>/tmp`, so its private extraction directories
 * (`<os tmpdir>/tsserve-models/<32 hex>`, src/registry/registry.ts workRoot) can be counted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeVersionedModels } from '../fixtures/archive-builder.js';
import { cleanupScope, httpRequest, makeWorkspace, startBackground, type StartedServer, type Workspace } from '../helpers/tsserve.js';

type Json = Record<string, unknown>;
type Reply = { status: number; body: unknown };

const NOT_ALLOWED = { code: 405, type: 'MethodNotAllowedException', message: 'Requested method is not allowed, please refer to API document.' };
const NOT_FOUND = { code: 404, type: 'ResourceNotFoundException', message: 'Requested resource is not found, please refer to API document.' };

/** TorchServe's describe fields, in its order (spec §7.3), then tsserve's additions. */
const DESCRIBE_FIELDS = [
  'modelName', 'modelVersion', 'modelUrl', 'runtime', 'minWorkers', 'maxWorkers', 'batchSize', 'maxBatchDelay',
  'responseTimeout', 'startupTimeout', 'maxRetryTimeoutInSec', 'clientTimeoutInMills', 'parallelType', 'parallelLevel',
  'deviceType', 'continuousBatching', 'useJobTicket', 'useVenv', 'stateful', 'sequenceMaxIdleMSec', 'sequenceTimeoutMSec',
  'maxNumSequence', 'maxSequenceJobQueueSize', 'loadedAtStartup', 'workers', 'jobQueueStatus', 'sha256', 'inputs', 'outputs',
];


/** The canonical input of shared/models/README.md: x[i] = (i % 255) / 255 - 0.5. */
function canonicalInput(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround((i % 255) / 255 - 0.5));
}

function argmax(values: number[]): number {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

describe('management API on the real server', () => {
  const scope = cleanupScope();
  let ws: Workspace;
  let server: StartedServer;
  let mgmt: string;
  let infer: string;
  let workRoot: string;

  const call = async (method: string, url: string, json?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await httpRequest(`${mgmt}${url}`, {
      method,
      ...(json === undefined ? { headers } : { headers: { 'content-type': 'application/json', ...headers }, body: typeof json === 'string' ? json : JSON.stringify(json) }),
    });
    return { status: res.status, body: res.text === '' ? undefined : res.json() };
  };
  const status = (message: string) => ({ status: message });
  const describeModel = async (url: string): Promise<Json[]> => {
    const res = await call('GET', `/models/${url}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Json[];
  };
  const readyWorkers = (d: Json) => (d.workers as Json[]).filter((w) => w.status === 'READY').length;
  /** Polls describe until `n` workers are READY (async register/scale); 20 s bound. */
  const waitReady = async (url: string, n: number): Promise<Json> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [d] = await describeModel(url);
      if (readyWorkers(d) === n && (d.workers as Json[]).length === n) return d;
      if (Date.now() > deadline) assert.fail(`${url}: ${n} READY workers expected, got ${JSON.stringify(d.workers)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const predict = async (url: string, body: unknown): Promise<{ status: number; values: number[]; text: string }> => {
    const res = await httpRequest(`${infer}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, values: res.status === 200 ? (res.json<unknown[]>().flat(3) as number[]) : [], text: res.text };
  };
  const extractionDirs = () => (fs.existsSync(workRoot) ? fs.readdirSync(workRoot).filter((n) => /^[0-9a-f]{32}$/.test(n)).sort() : []);

  before(async () => {
    ws = makeWorkspace(scope);
    await writeVersionedModels(ws.modelStore);
    fs.mkdirSync(path.join(ws.dir, 'tmp'));
    workRoot = path.join(ws.dir, 'tmp', 'tsserve-models');
    server = await startBackground(scope, ws, ['--dt', '--enable-model-api'], { env: { TMPDIR: path.join(ws.dir, 'tmp') } });
    mgmt = server.addresses.management;
    infer = server.addresses.inference;
  });
  after(() => scope.run());

  test('register: synchronous 200, asynchronous 202, zero workers, 409 on the same name and version', async () => {
    const dirs = extractionDirs().length;
    assert.deepEqual(await call('POST', '/models?url=add.mar&initial_workers=1'), {
      status: 200,
      body: status('Model "add" Version: 1.0 registered with 1 initial workers'),
    });
    const [d] = await describeModel('add');
    assert.equal(readyWorkers(d), 1, 'synchronous registration answers once the worker is READY');
    assert.deepEqual((await predict('/predictions/add', { input: [[1, 2, 3, 4]] })).values, [2, 3, 4, 5]);
    assert.equal(extractionDirs().length, dirs + 1);

    const conflict = await call('POST', '/models?url=add.mar&initial_workers=1');
    assert.deepEqual(conflict, {
      status: 409,
      body: { code: 409, type: 'ConflictStatusException', message: 'Model version 1.0 is already registered for model add' },
    });
    assert.equal(extractionDirs().length, dirs + 1, 'the refused registration left no extraction directory');

    // Concurrent registrations of one name and version: one wins, the others get the 409.
    const racing = await Promise.all([1, 2, 3].map(() => call('POST', '/models?url=add.mar&model_name=add_race&initial_workers=1')));
    assert.deepEqual(racing.map((r) => r.status).sort(), [200, 409, 409]);
    assert.equal(extractionDirs().length, dirs + 2, 'the losers left no extraction directory');

    assert.deepEqual(await call('POST', '/models?url=add.mar&model_name=add_async&initial_workers=1&synchronous=false'), {
      status: 202,
      body: status('Processing worker updates...'),
    });
    await waitReady('add_async', 1);
    // Only a case-insensitive "true" is true (spec §7.2): -1 is asynchronous, TRUE synchronous.
    assert.equal((await call('POST', '/models?url=add.mar&model_name=add_neg&initial_workers=1&synchronous=-1')).status, 202);
    assert.equal((await call('POST', '/models?url=add.mar&model_name=add_upper&initial_workers=1&synchronous=TRUE')).status, 200);

    assert.deepEqual(await call('POST', '/models?url=add.mar&model_name=add_zero&initial_workers=0'), {
      status: 200,
      body: status('Model "add_zero" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.'),
    });
    const [zero] = await describeModel('add_zero');
    assert.deepEqual([zero.minWorkers, zero.maxWorkers, zero.workers], [0, 0, []]);
    const noWorker = await predict('/predictions/add_zero', { input: [[1, 2, 3, 4]] });
    assert.equal(noWorker.status, 503, noWorker.text);
  });

  test('register with a JSON body: the query string is ignored, absent fields take the defaults', async () => {
    const res = await call('POST', '/models?url=missing.mar&model_name=ignored', {
      url: 'add.mar', model_name: 'add_json', initial_workers: 1, batch_size: 4, max_batch_delay: 7, response_timeout: 30,
    });
    assert.deepEqual(res, { status: 200, body: status('Model "add_json" Version: 1.0 registered with 1 initial workers') });
    const [d] = await describeModel('add_json');
    assert.deepEqual([d.modelName, d.batchSize, d.maxBatchDelay, d.responseTimeout], ['add_json', 4, 7, 30]);
    assert.equal((await call('GET', '/models/ignored')).status, 404);

    // TorchServe sets -10000 for an absent max_batch_delay in a JSON body; here it is the default.
    assert.equal((await call('POST', '/models', { url: 'add.mar', model_name: 'add_json2', initial_workers: 0 })).status, 200);
    const [d2] = await describeModel('add_json2');
    assert.deepEqual([d2.batchSize, d2.maxBatchDelay], [1, 100]);

    assert.deepEqual(await call('POST', '/models', { model_name: 'x' }), {
      status: 400, body: { code: 400, type: 'BadRequestException', message: 'Parameter url is required.' },
    });
    assert.deepEqual(await call('POST', '/models', { url: 'add.mar', model_name: 'x', batch_size: 'big' }), {
      status: 400, body: { code: 400, type: 'BadRequestException', message: 'Invalid value for parameter batch_size: must be an integer' },
    });
    const malformed = await call('POST', '/models', '{"url": "add.mar"');
    assert.equal(malformed.status, 400);
    assert.match((malformed.body as Json).message as string, /^Invalid JSON body: /);
    assert.equal((await call('GET', '/models/x')).status, 404);
  });

  test('register errors: TorchServe\'s 400/404 messages, and nothing is left behind', async () => {
    const before = (await call('GET', '/models')).body;
    const dirs = extractionDirs();
    const store = fs.readdirSync(ws.modelStore).sort();
    const bad = (message: string) => ({ status: 400, body: { code: 400, type: 'BadRequestException', message } });
    const missing = (message: string) => ({ status: 404, body: { code: 404, type: 'ModelNotFoundException', message } });
    const cases: [string, Reply][] = [
      ['/models', bad('Parameter url is required.')],
      ['/models?model_name=x&initial_workers=1', bad('Parameter url is required.')],
      ['/models?url=', missing('empty url')],
      ['/models?url=../model_store/add.mar', missing('Relative path is not allowed in url: ../model_store/add.mar')],
      ['/models?url=sub/..%2Fadd.mar', missing('Relative path is not allowed in url: sub/../add.mar')],
      ['/models?url=nothing.mar', missing('Model not found at: nothing.mar')],
      [`/models?url=${encodeURIComponent(ws.dir)}`, missing(`Model not found at: ${ws.dir}`)],
      ['/models?url=/etc', missing('Model not found at: /etc')],
      ['/models?url=add.mar&model_name=x&batch_size=abc', bad('Invalid value for parameter batch_size: must be an integer')],
      ['/models?url=add.mar&model_name=x&batch_size=0', bad('Invalid value for parameter batch_size: must be >= 1')],
      ['/models?url=add.mar&model_name=x&max_batch_delay=-1', bad('Invalid value for parameter max_batch_delay: must be >= 0')],
      ['/models?url=add.mar&model_name=x&initial_workers=-1', bad('Invalid value for parameter initial_workers: must be >= 0')],
      ['/models?url=add.mar&model_name=x&initial_workers=1025', bad('Invalid value for parameter initial_workers: must be <= 1024')],
      ['/models?url=add.mar&model_name=x&initial_workers=1.5', bad('Invalid value for parameter initial_workers: must be an integer')],
      ['/models?url=add.mar&model_name=x&response_timeout=0', bad('Invalid value for parameter response_timeout: must be >= 1')],
      ['/models?url=add.mar&model_name=x&startup_timeout=soon', bad('Invalid value for parameter startup_timeout: must be an integer')],
      ['/models?url=add.mar&model_name=x&runtime=java', bad('Invalid RuntimeType value: java')],
      ['/models?url=add.mar&model_name=x&runtime=Python', bad('Invalid RuntimeType value: Python')],
    ];
    for (const [url, expected] of cases) assert.deepEqual(await call('POST', url), expected, url);
    assert.deepEqual((await call('GET', '/models')).body, before, 'no registration happened');
    assert.deepEqual(extractionDirs(), dirs, 'no extraction directory left behind');
    assert.deepEqual(fs.readdirSync(ws.modelStore).sort(), store, 'model store unchanged');
  });

  test('scale: synchronous 200, asynchronous 202, scale down and to zero, errors in TorchServe\'s order', async () => {
    assert.equal((await call('POST', '/models?url=add.mar&model_name=sc&initial_workers=1')).status, 200);
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=2&synchronous=true'), { status: 200, body: status('Workers scaled to 2 for model: sc') });
    const [two] = await describeModel('sc');
    assert.deepEqual([two.minWorkers, two.maxWorkers, readyWorkers(two), (two.workers as Json[]).length], [2, 2, 2, 2]);

    assert.deepEqual(await call('PUT', '/models/sc?min_worker=3&max_worker=4'), { status: 202, body: status('Processing worker updates...') });
    const three = await waitReady('sc', 3);
    assert.deepEqual([three.minWorkers, three.maxWorkers], [3, 4]);

    assert.deepEqual(await call('PUT', '/models/sc/1.0?min_worker=1&synchronous=true'), {
      status: 200, body: status('Workers scaled to 1 for model: sc, version: 1.0'),
    });
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=1&model_version=1.0&synchronous=true'), {
      status: 200, body: status('Workers scaled to 1 for model: sc, version: 1.0'),
    });
    assert.equal(readyWorkers((await describeModel('sc'))[0]), 1);

    // min_worker=0 stops every worker; the model stays registered and inference answers 503.
    assert.equal((await call('PUT', '/models/sc?min_worker=0&synchronous=true')).status, 200);
    assert.deepEqual((await describeModel('sc'))[0].workers, []);
    assert.equal((await predict('/predictions/sc', { input: [[0, 0, 0, 0]] })).status, 503);
    assert.deepEqual((await call('GET', '/v1/models/sc')).body, { name: 'sc', ready: false });
    assert.equal((await call('PUT', '/models/sc?synchronous=true')).status, 200, 'min_worker defaults to 1');
    assert.deepEqual((await predict('/predictions/sc', { input: [[0, 0, 0, 0]] })).values, [1, 1, 1, 1]);

    const error = (code: number, type: string, message: string) => ({ status: code, body: { code, type, message } });
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=3&max_worker=2'), error(400, 'BadRequestException', 'max_worker cannot be less than min_worker.'));
    assert.deepEqual(await call('PUT', '/models/nope?min_worker=3&max_worker=2'), error(400, 'BadRequestException', 'max_worker cannot be less than min_worker.'), 'bounds are checked before the model');
    assert.deepEqual(await call('PUT', '/models/nope?min_worker=1'), error(404, 'ModelNotFoundException', 'Model not found: nope'));
    assert.deepEqual(await call('PUT', '/models/sc/9.9?min_worker=1'), error(404, 'ModelVersionNotFoundException', 'Model version: 9.9 does not exist for model: sc'));
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=1&model_version=9.9'), error(404, 'ModelVersionNotFoundException', 'Model version: 9.9 does not exist for model: sc'));
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=-1'), error(400, 'BadRequestException', 'Invalid value for parameter min_worker: must be >= 0'));
    assert.deepEqual(await call('PUT', '/models/sc?min_worker=two'), error(400, 'BadRequestException', 'Invalid value for parameter min_worker: must be an integer'));
    assert.deepEqual(await call('PUT', '/models/sc?max_worker=2000'), error(400, 'BadRequestException', 'Invalid value for parameter max_worker: must be <= 1024'));
    const [still] = await describeModel('sc');
    assert.deepEqual([still.minWorkers, still.maxWorkers, readyWorkers(still)], [1, 1, 1], 'refused scale calls changed nothing');
  });

  test('list: sorted by name, pages with limit and next_page_token, nextPageToken a string', async () => {
    for (const name of ['pg_c', 'pg_a', 'pg_e', 'pg_b', 'pg_d']) {
      assert.equal((await call('POST', `/models?url=add.mar&model_name=${name}&initial_workers=0`)).status, 200);
    }
    const all = (await call('GET', '/models')).body as { nextPageToken?: string; models: { modelName: string; modelUrl: string }[] };
    const names = all.models.map((m) => m.modelName);
    assert.deepEqual(names, [...names].sort(), 'code-point order');
    assert.ok(names.length >= 5 && names.length < 100);
    assert.equal(all.nextPageToken, undefined, 'no token when the default limit covers everything');
    assert.deepEqual(all.models.find((m) => m.modelName === 'pg_a'), { modelName: 'pg_a', modelUrl: 'add.mar' });

    const walked: string[] = [];
    let token = 0;
    for (let page = 0; page < 100; page++) {
      const res = await call('GET', `/models?limit=2&next_page_token=${token}`);
      assert.equal(res.status, 200);
      const body = res.body as { nextPageToken?: string; models: { modelName: string }[] };
      walked.push(...body.models.map((m) => m.modelName));
      // TorchServe's rule (spec §7.1): present iff token + limit <= total, even if the next page is empty.
      if (token + 2 <= names.length) {
        assert.equal(body.nextPageToken, String(token + 2));
        assert.deepEqual(Object.keys(body), ['nextPageToken', 'models']);
        token = Number(body.nextPageToken);
      } else {
        assert.equal(body.nextPageToken, undefined);
        break;
      }
    }
    assert.deepEqual(walked, names, 'the pages together are the whole list');

    assert.deepEqual((await call('GET', '/models?limit=0')).body, { nextPageToken: '0', models: [] });
    assert.deepEqual((await call('GET', '/models?limit=101')).body, all, 'limit above 100 means 100');
    assert.deepEqual((await call('GET', '/models?limit=-5')).body, all, 'negative limit means 100');
    assert.deepEqual(((await call('GET', '/models?limit=1&next_page_token=-3')).body as { models: unknown[] }).models, all.models.slice(0, 1));
    assert.deepEqual(await call('GET', '/models?limit=x'), {
      status: 400, body: { code: 400, type: 'BadRequestException', message: 'Invalid value for parameter limit: must be an integer' },
    });
    assert.equal((await call('GET', '/models?next_page_token=x')).status, 400);
  });

  test('describe: an array with TorchServe\'s fields, workers, sha256, inputs and outputs', async () => {
    assert.equal((await call('POST', '/models?url=add.mar&model_name=ds&initial_workers=1&batch_size=2&max_batch_delay=5')).status, 200);
    const res = await call('GET', '/models/ds');
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body));
    const [d] = res.body as Json[];
    assert.deepEqual(Object.keys(d).filter((k) => k !== 'modelGroupId'), DESCRIBE_FIELDS);
    assert.deepEqual(
      { ...d, workers: undefined, modelGroupId: undefined },
      {
        modelName: 'ds', modelVersion: '1.0', modelUrl: 'add.mar', runtime: 'python', minWorkers: 1, maxWorkers: 1,
        batchSize: 2, maxBatchDelay: 5, responseTimeout: 120, startupTimeout: 120, maxRetryTimeoutInSec: 300,
        clientTimeoutInMills: 0, parallelType: '', parallelLevel: 0, deviceType: 'cpu', continuousBatching: false,
        useJobTicket: false, useVenv: false, stateful: false, sequenceMaxIdleMSec: 0, sequenceTimeoutMSec: 0,
        maxNumSequence: 0, maxSequenceJobQueueSize: 0, loadedAtStartup: false, workers: undefined,
        jobQueueStatus: { remainingCapacity: 100, pendingRequests: 0 },
        sha256: createHash('sha256').update(fs.readFileSync(path.join(ws.modelStore, 'add.mar'))).digest('hex'),
        inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 4] }],
        outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 4] }],
        modelGroupId: undefined,
      },
    );
    const [worker] = d.workers as Json[];
    assert.deepEqual(Object.keys(worker), ['id', 'startTime', 'status', 'memoryUsage', 'pid', 'gpu', 'gpuUsage']);
    assert.match(worker.id as string, /^\d+$/);
    assert.match(worker.startTime as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(worker.status, 'READY');
    assert.ok(Number.isInteger(worker.memoryUsage) && Number.isInteger(worker.pid));
    assert.deepEqual([worker.gpu, worker.gpuUsage], [false, 'N/A']);

    // memoryUsage moves between calls; everything else is the same for the version path, /all and customized.
    const stable = (ds: Json[]) => ds.map((x) => ({ ...x, workers: (x.workers as Json[]).map((w) => ({ ...w, memoryUsage: 0 })) }));
    assert.deepEqual(stable(await describeModel('ds/1.0')), stable(res.body as Json[]));
    assert.deepEqual(stable(await describeModel('ds/all')), stable(res.body as Json[]));
    assert.deepEqual(stable(await describeModel('ds?customized=true')), stable(res.body as Json[]));
    assert.deepEqual(await call('GET', '/models/nope'), { status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' } });
    assert.deepEqual(await call('GET', '/models/ds/2.0'), {
      status: 404, body: { code: 404, type: 'ModelVersionNotFoundException', message: 'Model version: 2.0 does not exist for model: ds' },
    });
  });

  test('versions: two archives of one model, set-default, versioned predictions, 403 on the default, unregister', async () => {
    const dirs = extractionDirs().length;
    assert.deepEqual(await call('POST', '/models?url=m-1.mar&initial_workers=1'), { status: 200, body: status('Model "m" Version: 1.0 registered with 1 initial workers') });
    assert.deepEqual(await call('POST', '/models?url=m-2.mar&initial_workers=1'), { status: 200, body: status('Model "m" Version: 2.0 registered with 1 initial workers') });
    assert.equal((await call('POST', '/models?url=m-2.mar&initial_workers=0')).status, 409);

    const listed = async () => ((await call('GET', '/models')).body as { models: Json[] }).models.filter((x) => x.modelName === 'm');
    assert.deepEqual(await listed(), [{ modelName: 'm', modelUrl: 'm-1.mar' }], 'the list shows the default version only');
    assert.equal((await describeModel('m'))[0].modelVersion, '1.0', 'the first version stays the default');
    const allVersions = await describeModel('m/all');
    assert.deepEqual(allVersions.map((d) => [d.modelVersion, d.modelUrl]).sort(), [['1.0', 'm-1.mar'], ['2.0', 'm-2.mar']]);
    assert.deepEqual((await describeModel('m/2.0'))[0].outputs, [{ name: 'output', dtype: 'float32', shape: ['N', 10] }]);

    const mlpInput = { input: [canonicalInput(784)] };
    assert.deepEqual((await predict('/predictions/m', { input: [[1, 2, 3, 4]] })).values, [2, 3, 4, 5], 'default = add');
    assert.deepEqual((await predict('/predictions/m/1.0', { input: [[1, 2, 3, 4]] })).values, [2, 3, 4, 5]);
    const v2 = await predict('/predictions/m/2.0', mlpInput);
    assert.equal(v2.values.length, 10, v2.text);
    assert.equal(argmax(v2.values), 1, 'mlp reference argmax');
    assert.equal((await predict('/predictions/m/3.0', mlpInput)).status, 404);

    const forbidden = { status: 403, body: { code: 403, type: 'InvalidModelVersionException', message: 'Cannot remove default version for model m' } };
    assert.deepEqual(await call('DELETE', '/models/m'), forbidden);
    assert.deepEqual(await call('DELETE', '/models/m/1.0'), forbidden);

    assert.deepEqual(await call('PUT', '/models/m/2.0/set-default'), { status: 200, body: status('Default version successfully updated for model "m" to "2.0"') });
    assert.deepEqual(await listed(), [{ modelName: 'm', modelUrl: 'm-2.mar' }]);
    assert.equal(argmax((await predict('/predictions/m', mlpInput)).values), 1, 'default = mlp now');
    assert.deepEqual(await call('PUT', '/models/m/9/set-default'), {
      status: 404, body: { code: 404, type: 'ModelVersionNotFoundException', message: 'Model version 9 does not exist for model m' },
    });
    assert.deepEqual(await call('PUT', '/models/nope/1.0/set-default'), { status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' } });

    assert.equal(extractionDirs().length, dirs + 2);
    assert.deepEqual(await call('DELETE', '/models/m/1.0'), { status: 200, body: status('Model "m" unregistered') });
    assert.equal(extractionDirs().length, dirs + 1, 'the version\'s extraction directory is gone');
    assert.equal((await predict('/predictions/m/1.0', { input: [[1, 2, 3, 4]] })).status, 404);
    assert.deepEqual((await describeModel('m/all')).map((d) => d.modelVersion), ['2.0']);
    assert.deepEqual(await call('DELETE', '/models/m'), { status: 200, body: status('Model "m" unregistered') });
    assert.equal(extractionDirs().length, dirs);
    assert.deepEqual(await call('GET', '/models/m'), { status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: m' } });
    assert.deepEqual(await listed(), []);
    assert.deepEqual(fs.readdirSync(ws.modelStore).filter((n) => n.startsWith('m-')).sort(), ['m-1.mar', 'm-2.mar'], 'archives in the store stay');
  });

  test('unregister: 200, then 404 everywhere; its extraction directory is removed', async () => {
    const dirs = extractionDirs();
    assert.equal((await call('POST', '/models?url=add.mar&model_name=gone&initial_workers=1')).status, 200);
    const added = extractionDirs().filter((d) => !dirs.includes(d));
    assert.equal(added.length, 1);
    assert.deepEqual(await call('DELETE', '/models/gone/7'), {
      status: 404, body: { code: 404, type: 'ModelVersionNotFoundException', message: 'Model version: 7 does not exist for model: gone' },
    });
    assert.deepEqual(await call('DELETE', '/models/gone?synchronous=false&timeout=5'), { status: 200, body: status('Model "gone" unregistered') });
    assert.equal(fs.existsSync(path.join(workRoot, added[0])), false);
    assert.deepEqual(extractionDirs(), dirs);
    const notFound = { status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: gone' } };
    assert.deepEqual(await call('GET', '/models/gone'), notFound);
    assert.deepEqual(await call('DELETE', '/models/gone'), notFound);
    assert.deepEqual(await call('PUT', '/models/gone?min_worker=1'), notFound);
    assert.deepEqual(await call('GET', '/v1/models/gone'), notFound);
    assert.equal((await predict('/predictions/gone', { input: [[1, 2, 3, 4]] })).status, 404);
    assert.ok(fs.existsSync(path.join(ws.modelStore, 'add.mar')), 'a store archive is not deleted');
  });

  test('unregister drains queued and in-flight requests: each one is answered, none fails', async () => {
    assert.equal((await call('POST', '/models?url=m-2.mar&model_name=drain&initial_workers=1')).status, 200);
    const body = { input: [canonicalInput(784)] };
    let firstAnswer!: () => void;
    const answered = new Promise<void>((resolve) => (firstAnswer = resolve));
    let deleteSentAt = Infinity;
    // 90 requests stay under the default job queue (100) of the single worker.
    const requests = Array.from({ length: 90 }, () =>
      predict('/predictions/drain', body).then((r) => {
        firstAnswer();
        return { status: r.status, values: r.values, at: Date.now() };
      }),
    );
    await answered;
    deleteSentAt = Date.now();
    assert.deepEqual(await call('DELETE', '/models/drain'), { status: 200, body: status('Model "drain" unregistered') });
    const results = await Promise.all(requests);
    // A request the server had not received yet when the model went may get 404; nothing else.
    for (const r of results) assert.ok(r.status === 200 || r.status === 404, `status ${r.status}`);
    const drained = results.filter((r) => r.status === 200 && r.at >= deleteSentAt);
    assert.ok(drained.length >= 1, 'some requests were still queued when DELETE arrived, and were answered');
    for (const r of results.filter((x) => x.status === 200)) assert.equal(argmax(r.values), 1);
  });

  test('GET /v1/models/{name} on the management listener', async () => {
    assert.equal((await call('POST', '/models?url=add.mar&model_name=kv&initial_workers=1')).status, 200);
    assert.equal((await call('POST', '/models?url=add.mar&model_name=kv0&initial_workers=0')).status, 200);
    assert.deepEqual(await call('GET', '/v1/models/kv'), { status: 200, body: { name: 'kv', ready: true } });
    assert.deepEqual(await call('GET', '/v1/models/kv0'), { status: 200, body: { name: 'kv0', ready: false } });
    assert.deepEqual(await call('GET', '/v1/models/none'), { status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: none' } });
  });

  test('OPTIONS / and /api-description: OpenAPI documents with TorchServe\'s operation ids', async () => {
    const ids = (doc: unknown): string[] => {
      const out: string[] = [];
      for (const ops of Object.values((doc as { paths: Record<string, Record<string, { operationId?: string }>> }).paths)) {
        for (const op of Object.values(ops)) if (op.operationId) out.push(op.operationId);
      }
      return out;
    };
    const expected = [
      'apiDescription', 'listModels', 'registerModel', 'describeModel', 'setAutoScale', 'unregisterModel',
      'version_describeModel', 'version_setAutoScale', 'version_unregisterModel', 'setDefault',
    ];
    const viaOptions = await call('OPTIONS', '/');
    const viaGet = await call('GET', '/api-description');
    for (const res of [viaOptions, viaGet]) {
      assert.equal(res.status, 200);
      const doc = res.body as Json;
      assert.equal(doc.openapi, '3.0.1');
      for (const id of expected) assert.ok(ids(doc).includes(id), `${id} in ${ids(doc).join(',')}`);
    }
    assert.deepEqual(viaOptions.body, viaGet.body);

    assert.equal((await call('POST', '/models?url=add.mar&model_name=oa&initial_workers=0')).status, 200);
    const perModel = await call('OPTIONS', '/models/oa');
    assert.equal(perModel.status, 200);
    assert.equal(((perModel.body as Json).info as Json).title, 'RESTful Management API for: oa');
    assert.ok(Object.keys((perModel.body as { paths: Json }).paths).some((p) => p.startsWith('/models/oa')));
    assert.ok(ids(perModel.body).includes('setDefault'));
    assert.equal((await call('OPTIONS', '/models/nope')).status, 404);
  });

  test('unknown routes answer 404 and wrong methods 405, as JSON', async () => {
    for (const url of ['/nothing', '/models/a/b/c/d', '/predictions/add']) {
      const res = await httpRequest(`${mgmt}${url}`);
      assert.deepEqual([res.status, res.json()], [404, NOT_FOUND], url);
      assert.equal(res.headers['content-type'], 'application/json');
    }
    const wrong: [string, string][] = [
      ['PATCH', '/models'], ['DELETE', '/models'], ['PUT', '/models'], ['POST', '/models/add'], ['PATCH', '/models/add/1.0'],
      ['GET', '/models/add/1.0/set-default'], ['POST', '/models/add/1.0/set-default'], ['PUT', '/v1/models/add'],
    ];
    for (const [method, url] of wrong) {
      const res = await httpRequest(`${mgmt}${url}`, { method });
      assert.deepEqual([res.status, res.json()], [405, NOT_ALLOWED], `${method} ${url}`);
    }
  });
});
