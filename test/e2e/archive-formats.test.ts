/**
 * Black-box proof of issue #4 through the server (spec §9): archives made by the real
 * `tsserve-archiver` (default, zip-store, tgz, no-archive) register and predict the reference
 * outputs of shared/models/models.json; a TorchServe-shaped manifest loads; a Python handler is
 * refused naming it; a startup model that fails is logged and skipped. One server for the file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildMar, buildTarGz, buildZip, sharedModelBytes } from '../fixtures/archive-builder.js';
import { REPO_ROOT, SHARED_MODELS_DIR, cleanupScope, httpRequest, makeWorkspace, startBackground, type StartedServer, type Workspace } from '../helpers/tsserve.js';

type Json = Record<string, unknown>;

const ARCHIVER_BIN = path.join(REPO_ROOT, 'bin', 'tsserve-archiver.js');

type Reference = { output_first5: number[]; output_sum: number; output_argmax: number };

function reference(model: 'add' | 'mlp'): Reference {
  const json = JSON.parse(fs.readFileSync(path.join(SHARED_MODELS_DIR, 'models.json'), 'utf8')) as { models: Record<string, { reference: Reference }> };
  return json.models[model].reference;
}

/** The canonical input of shared/models/README.md: x[i] = (i % 255) / 255 - 0.5, float32. */
function canonicalInput(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround((i % 255) / 255 - 0.5));
}

function assertMatchesReference(values: number[], ref: Reference, what: string): void {
  const tolerance = 1e-3;
  ref.output_first5.forEach((v, i) => assert.ok(Math.abs(values[i] - v) <= tolerance, `${what}: output[${i}] = ${values[i]}, reference ${v}`));
  const sum = values.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - ref.output_sum) <= tolerance, `${what}: sum ${sum}, reference ${ref.output_sum}`);
  assert.equal(values.reduce((best, v, i) => (v > values[best] ? i : best), 0), ref.output_argmax, what);
}

function runArchiver(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ARCHIVER_BIN, ...args], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}


/** The manifest torch-model-archiver 0.12 writes for an ONNX model with the base handler (spec §9.2). */
function torchServeManifest(name: string): string {
  return JSON.stringify(
    {
      createdOn: '17/03/2025 11:20:57',
      runtime: 'python',
      model: {
        modelName: name,
        serializedFile: 'add.onnx',
        handler: 'base_handler',
        modelVersion: '3.1',
        requirementsFile: 'requirements.txt',
        configFile: 'model-config.yaml',
      },
      archiverVersion: '0.12.0',
    },
    null,
    2,
  );
}

const MODEL_CONFIG_YAML = 'minWorkers: 1\nmaxWorkers: 2\nbatchSize: 2\nmaxBatchDelay: 10\nresponseTimeout: 30\ndeviceType: cpu\n';

describe('model archives through the real server', () => {
  const scope = cleanupScope();
  let ws: Workspace;
  let server: StartedServer;
  let mgmt: string;
  let workRoot: string;

  const register = async (query: string): Promise<{ status: number; body: Json }> => {
    const res = await httpRequest(`${mgmt}/models?${query}`, { method: 'POST' });
    return { status: res.status, body: res.json() };
  };
  const describeModel = async (name: string): Promise<Json> => {
    const res = await httpRequest(`${mgmt}/models/${name}`);
    assert.equal(res.status, 200, res.text);
    return res.json<Json[]>()[0];
  };
  const predict = async (name: string, input: unknown): Promise<number[]> => {
    const res = await httpRequest(`${server.addresses.inference}/predictions/${name}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }),
    });
    assert.equal(res.status, 200, `${name}: ${res.text}`);
    return res.json<unknown[]>().flat(3) as number[];
  };
  const extractionDirs = () => (fs.existsSync(workRoot) ? fs.readdirSync(workRoot).sort() : []);

  before(async () => {
    ws = makeWorkspace(scope);
    fs.writeFileSync(path.join(ws.modelStore, 'boot.mar'), await buildMar({ modelName: 'boot' }));
    fs.writeFileSync(path.join(ws.modelStore, 'broken.mar'), 'PK\u0003\u0004 not really a zip');
    fs.writeFileSync(path.join(ws.modelStore, 'pyboot.mar'), await buildMar({ modelName: 'pyboot', handler: 'my_handler.py' }));
    fs.mkdirSync(path.join(ws.dir, 'tmp'));
    workRoot = path.join(ws.dir, 'tmp', 'tsserve-models');
    server = await startBackground(
      scope,
      ws,
      ['--dt', '--enable-model-api', '--ncs', '--models', 'boot.mar,broken.mar,nowhere.mar,pyboot.mar'],
      { env: { TMPDIR: path.join(ws.dir, 'tmp') } },
    );
    mgmt = server.addresses.management;
  });
  after(() => scope.run());

  test('a startup model that fails is logged and skipped; the server starts with the others', async () => {
    const list = (await httpRequest(`${mgmt}/models`)).json<{ models: Json[] }>();
    assert.deepEqual(list.models, [{ modelName: 'boot', modelUrl: 'boot.mar' }]);
    const deadline = Date.now() + 20_000;
    while (((await describeModel('boot')).workers as Json[]).filter((w) => w.status === 'READY').length === 0) {
      assert.ok(Date.now() < deadline, 'boot never got a READY worker');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await describeModel('boot')).loadedAtStartup, true);
    assert.deepEqual(await predict('boot', [[1, 2, 3, 4]]), [2, 3, 4, 5]);
    const log = fs.readFileSync(path.join(ws.dir, 'logs', 'ts_log.log'), 'utf8');
    for (const location of ['broken.mar', 'nowhere.mar', 'pyboot.mar']) assert.ok(log.includes(`Failed to load model: ${location}`), location);
    assert.match(log, /Handler \\?"my_handler\.py\\?" is a Python handler/);
  });

  test('tsserve-archiver -> register -> prediction matches the reference (add and mlp)', async () => {
    const add = await runArchiver(ws.dir, ['--model-name', 'add_arch', '--version', '1.0', '--serialized-file', path.join(SHARED_MODELS_DIR, 'add.onnx'), '--export-path', 'model_store']);
    assert.equal(add.code, 0, add.stderr);
    const addFile = path.join(ws.modelStore, 'add_arch.mar');
    assert.equal(add.stdout, `Model archive written to ${addFile}\n`);
    fs.writeFileSync(path.join(ws.dir, 'model_config.yaml'), 'minWorkers: 1\nmaxWorkers: 1\nbatchSize: 4\nmaxBatchDelay: 5\n');
    fs.writeFileSync(path.join(ws.dir, 'labels.json'), JSON.stringify(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), `digit ${i}`]))));
    const mlp = await runArchiver(ws.dir, [
      '--model-name', 'mlp', '-v', '2.5', '--serialized-file', path.join(SHARED_MODELS_DIR, 'mlp.onnx'), '--handler', 'base_handler',
      '--extra-files', 'labels.json', '-c', 'model_config.yaml', '--export-path', ws.modelStore,
    ]);
    assert.equal(mlp.code, 0, mlp.stderr);

    assert.deepEqual(await register('url=add_arch.mar&initial_workers=1'), {
      status: 200, body: { status: 'Model "add_arch" Version: 1.0 registered with 1 initial workers' },
    });
    assert.deepEqual(await register('url=mlp.mar&initial_workers=1'), {
      status: 200, body: { status: 'Model "mlp" Version: 2.5 registered with 1 initial workers' },
    });

    // add: output = input + 1, for the canonical input and for any other.
    assertMatchesReference(await predict('add_arch', [canonicalInput(4)]), reference('add'), 'add');
    assert.deepEqual(await predict('add_arch', [[0.5, -1, 100, 0]]), [1.5, 0, 101, 1]);
    assertMatchesReference(await predict('mlp', [canonicalInput(784)]), reference('mlp'), 'mlp');

    const d = await describeModel('mlp');
    assert.deepEqual([d.batchSize, d.maxBatchDelay], [4, 5], 'the archived model config applies');
    assert.equal(d.sha256, createHash('sha256').update(fs.readFileSync(path.join(ws.modelStore, 'mlp.mar'))).digest('hex'));
    assert.deepEqual([d.inputs, d.outputs], [[{ name: 'input', dtype: 'float32', shape: ['N', 784] }], [{ name: 'output', dtype: 'float32', shape: ['N', 10] }]]);

    // Refuses to overwrite without --force, and bad input exits 2 with nothing written.
    const again = await runArchiver(ws.dir, ['--model-name', 'mlp', '-v', '2.5', '--serialized-file', path.join(SHARED_MODELS_DIR, 'mlp.onnx'), '--export-path', ws.modelStore]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists\.\nPlease specify --force\/-f option to overwrite the model archive output file\./);
    fs.writeFileSync(path.join(ws.dir, 'not-onnx.onnx'), 'hello');
    const bad = await runArchiver(ws.dir, ['--model-name', 'bad', '-v', '1', '--serialized-file', 'not-onnx.onnx', '--export-path', ws.modelStore]);
    assert.equal(bad.code, 2);
    assert.equal(fs.existsSync(path.join(ws.modelStore, 'bad.mar')), false);
  });

  test('zip-store, tgz and no-archive (directory) forms register and predict', async () => {
    for (const [format, name] of [['zip-store', 'add_store'], ['tgz', 'add_tgz'], ['no-archive', 'add_dir']] as const) {
      const made = await runArchiver(ws.dir, [
        '--model-name', name, '--version', '1.0', '--serialized-file', path.join(SHARED_MODELS_DIR, 'add.onnx'),
        '--export-path', ws.modelStore, '--archive-format', format,
      ]);
      assert.equal(made.code, 0, made.stderr);
    }
    assert.ok(fs.statSync(path.join(ws.modelStore, 'add_tgz.tar.gz')).isFile());
    assert.ok(fs.statSync(path.join(ws.modelStore, 'add_dir', 'MAR-INF', 'MANIFEST.json')).isFile());

    for (const [url, name] of [['add_store.mar', 'add_store'], ['add_tgz.tar.gz', 'add_tgz'], ['add_dir', 'add_dir']]) {
      assert.deepEqual(await register(`url=${url}&initial_workers=1`), {
        status: 200, body: { status: `Model "${name}" Version: 1.0 registered with 1 initial workers` },
      }, url);
      assert.deepEqual(await predict(name, [[1, 2, 3, 4]]), [2, 3, 4, 5], url);
      const d = await describeModel(name);
      assert.equal(d.modelUrl, url);
      assert.match(d.sha256 as string, /^[0-9a-f]{64}$/);
    }
    // The directory is copied, not used in place: changing it does not touch the running model.
    fs.writeFileSync(path.join(ws.modelStore, 'add_dir', 'add.onnx'), 'overwritten');
    assert.deepEqual(await predict('add_dir', [[1, 1, 1, 1]]), [2, 2, 2, 2]);
  });

  test('a TorchServe-shaped archive (runtime python, base_handler, model-config.yaml) loads, as zip and as tgz', async () => {
    const addOnnx = await sharedModelBytes('add.onnx');
    fs.writeFileSync(
      path.join(ws.modelStore, 'tsm.mar'),
      await buildZip([
        { name: 'MAR-INF/MANIFEST.json', data: torchServeManifest('tsm') },
        { name: 'add.onnx', data: addOnnx },
        { name: 'model-config.yaml', data: MODEL_CONFIG_YAML },
        { name: 'requirements.txt', data: 'onnx\n' },
      ]),
    );
    // torch-model-archiver's tgz: every entry under "<model-name>/".
    fs.writeFileSync(
      path.join(ws.modelStore, 'tsm_tgz.tar.gz'),
      buildTarGz([
        { path: 'tsm_tgz/', type: 'Directory' },
        { path: 'tsm_tgz/MAR-INF/', type: 'Directory' },
        { path: 'tsm_tgz/MAR-INF/MANIFEST.json', data: torchServeManifest('tsm_tgz') },
        { path: 'tsm_tgz/add.onnx', data: addOnnx },
        { path: 'tsm_tgz/model-config.yaml', data: MODEL_CONFIG_YAML },
        { path: 'tsm_tgz/requirements.txt', data: 'onnx\n' },
      ]),
    );
    for (const [url, name] of [['tsm.mar', 'tsm'], ['tsm_tgz.tar.gz', 'tsm_tgz']]) {
      // No initial_workers: the archive's model-config.yaml decides (minWorkers 1, maxWorkers 2).
      assert.deepEqual(await register(`url=${url}`), {
        status: 200, body: { status: `Model "${name}" Version: 3.1 registered with 1 initial workers` },
      }, url);
      const d = await describeModel(name);
      assert.deepEqual(
        [d.modelVersion, d.runtime, d.minWorkers, d.maxWorkers, d.batchSize, d.maxBatchDelay, d.responseTimeout],
        ['3.1', 'python', 1, 2, 2, 10, 30],
        url,
      );
      assert.deepEqual(await predict(name, [[-1, 0, 1, 2]]), [0, 1, 2, 3], url);
    }
  });

  test('a Python handler is refused at registration with a 400 naming it; nothing is left behind', async () => {
    fs.writeFileSync(path.join(ws.modelStore, 'py.mar'), await buildMar({ modelName: 'py', handler: 'my_handler.py' }, { 'my_handler.py': 'def handle(data, context):\n    return data\n' }));
    fs.writeFileSync(path.join(ws.modelStore, 'plain.mar'), await buildMar({ modelName: 'plain' }));
    const dirs = extractionDirs();
    const store = fs.readdirSync(ws.modelStore).sort();
    const refusal = (handler: string) => ({
      status: 400,
      body: {
        code: 400,
        type: 'InvalidModelException',
        message: `Handler "${handler}" is a Python handler; tsserve runs JavaScript handlers (.js/.mjs) and the built-in handlers tensor and image_classifier.`,
      },
    });
    assert.deepEqual(await register('url=py.mar&initial_workers=1'), refusal('my_handler.py'));
    assert.deepEqual(await register('url=plain.mar&initial_workers=1&handler=text_classifier'), refusal('text_classifier'));
    assert.deepEqual(await register('url=plain.mar&initial_workers=1&handler=my_module:handle'), refusal('my_module:handle'));
    assert.equal((await httpRequest(`${mgmt}/models/py`)).status, 404);
    assert.equal((await httpRequest(`${mgmt}/models/plain`)).status, 404);
    assert.deepEqual(extractionDirs(), dirs, 'no extraction directory left behind');
    assert.deepEqual(fs.readdirSync(ws.modelStore).sort(), store, 'model store unchanged');
  });
});
