import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { silentLogger } from '../../../src/logger.js';
import { runArchiver } from '../../../src/cli/archiver.js';
import { openModel } from '../../../src/archive/open-model.js';
import { formatCreatedOn } from '../../../src/archive/write-archive.js';
import { REPO_ROOT, sharedModel } from '../../helpers/repo.js';
import { withUnknownOp } from '../../fixtures/archive-builder.js';

type Run = { code: number; stdout: string; stderr: string };

async function setup(t: TestContext) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'tsserve-archiver-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const out = path.join(root, 'out');
  const run = async (...argv: string[]): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await runArchiver(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      cwd: root,
    });
    return { code, stdout, stderr };
  };
  const open = (location: string) =>
    openModel(location, {
      modelStore: out,
      workRoot: path.join(root, 'work'),
      limits: { maxEntries: 1000, maxUncompressedBytes: 1e9 },
      log: silentLogger(),
    });
  return { root, out, run, open };
}

const pkgVersion = async (): Promise<string> =>
  (JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

async function zipEntries(file: string): Promise<{ name: string; method: number }[]> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true });
  const out: { name: string; method: number }[] = [];
  for await (const entry of zip.eachEntry()) out.push({ name: entry.fileName, method: entry.compressionMethod });
  zip.close();
  return out;
}

test('round trip: archiver → openModel gives the files and a TorchServe-shaped manifest', async (t) => {
  const env = await setup(t);
  await writeFile(path.join(env.root, 'index_to_name.json'), '{"0": "zero"}');
  await mkdir(path.join(env.root, 'assets', 'sub'), { recursive: true });
  await mkdir(path.join(env.root, 'assets', '__pycache__'));
  await mkdir(path.join(env.root, 'assets', '.git'));
  await writeFile(path.join(env.root, 'assets', 'sub', 'vocab.txt'), 'a b c');
  await writeFile(path.join(env.root, 'assets', '__pycache__', 'x.pyc'), 'junk');
  await writeFile(path.join(env.root, 'assets', '.git', 'HEAD'), 'junk');
  await writeFile(path.join(env.root, 'handler.mjs'), 'export default {};');
  await writeFile(path.join(env.root, 'model_config.yaml'), 'batchSize: 4\nmaxBatchDelay: 10\n');
  const before = new Date();
  const r = await env.run(
    '--model-name', 'mlp', '-v', '2.0',
    '--serialized-file', sharedModel('mlp.onnx'),
    '--handler', 'handler.mjs',
    '--extra-files', 'index_to_name.json, assets',
    '-c', 'model_config.yaml',
    '--export-path', 'out',
  );
  assert.equal(r.code, 0, r.stderr);
  const mar = path.join(env.out, 'mlp.mar');
  assert.equal(r.stdout, `Model archive written to ${mar}\n`);
  assert.match(r.stderr, /Export path .*out did not exist; created it/);

  const names = (await zipEntries(mar)).map((e) => e.name);
  assert.deepEqual(names, ['MAR-INF/MANIFEST.json', 'handler.mjs', 'index_to_name.json', 'mlp.onnx', 'model_config.yaml', 'sub/vocab.txt']);
  assert.ok((await zipEntries(mar)).every((e) => e.method === 8), 'default format deflates');

  const model = await env.open('mlp.mar');
  t.after(() => model.close());
  const raw = JSON.parse(await readFile(path.join(model.dir, 'MAR-INF', 'MANIFEST.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(raw), ['createdOn', 'runtime', 'model', 'archiverVersion']);
  assert.deepEqual(raw.model, {
    modelName: 'mlp',
    serializedFile: 'mlp.onnx',
    handler: 'handler.mjs',
    modelVersion: '2.0',
    configFile: 'model_config.yaml',
  });
  assert.deepEqual(Object.keys(raw.model as object), ['modelName', 'serializedFile', 'handler', 'modelVersion', 'configFile']);
  assert.equal(raw.runtime, 'python');
  assert.equal(raw.archiverVersion, await pkgVersion());
  const m = /^(\d\d)\/(\d\d)\/(\d{4}) (\d\d):(\d\d):(\d\d)$/.exec(raw.createdOn as string);
  assert.ok(m, `createdOn ${String(raw.createdOn)}`);
  const created = new Date(+m[3]!, +m[2]! - 1, +m[1]!, +m[4]!, +m[5]!, +m[6]!).getTime();
  assert.ok(created >= before.getTime() - 1000 && created <= Date.now(), 'createdOn is the local time of writing');
  assert.deepEqual(await readFile(model.serializedFile), await readFile(sharedModel('mlp.onnx')));
  assert.deepEqual(model.handler, { kind: 'js', file: path.join(model.dir, 'handler.mjs') });
  assert.deepEqual(model.modelYamlConfig, { batchSize: 4, maxBatchDelay: 10 });
  assert.equal(await readFile(path.join(model.dir, 'sub', 'vocab.txt'), 'utf8'), 'a b c');
});

test('createdOn is DD/MM/YYYY HH:MM:SS in local time', () => {
  assert.equal(formatCreatedOn(new Date(2025, 2, 17, 11, 20, 57)), '17/03/2025 11:20:57');
  assert.equal(formatCreatedOn(new Date(2025, 0, 1, 0, 0, 0)), '01/01/2025 00:00:00');
});

test('without --handler the manifest names none and the tensor handler serves it', async (t) => {
  const env = await setup(t);
  const r = await env.run('--model-name', 'add', '-v', '1.0', '--serialized-file', sharedModel('add.onnx'), '--export-path', 'out');
  assert.equal(r.code, 0, r.stderr);
  const model = await env.open('add.mar');
  t.after(() => model.close());
  assert.equal('handler' in model.manifest.model, false);
  assert.deepEqual(model.handler, { kind: 'builtin', name: 'tensor' });
});

test('tgz: every entry under <model-name>/, and it opens', async (t) => {
  const env = await setup(t);
  const r = await env.run('--model-name', 'add', '-v', '1', '--serialized-file', sharedModel('add.onnx'), '--handler', 'base_handler', '--archive-format', 'tgz', '--export-path', 'out');
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(env.out, 'add.tar.gz');
  const paths: string[] = [];
  await tar.t({ file, onReadEntry: (e) => void paths.push(e.path) });
  assert.ok(paths.length > 0 && paths.every((p) => p.startsWith('add/')), paths.join(','));
  assert.ok(paths.includes('add/MAR-INF/MANIFEST.json') && paths.includes('add/add.onnx'));
  const model = await env.open('add.tar.gz');
  t.after(() => model.close());
  assert.equal(model.manifest.model.handler, 'base_handler');
  assert.deepEqual(model.handler, { kind: 'builtin', name: 'tensor' });
});

test('no-archive writes a directory that opens; zip-store stores without compression', async (t) => {
  const env = await setup(t);
  const a = await env.run('--model-name', 'plain', '-v', '1', '--serialized-file', sharedModel('add.onnx'), '--archive-format', 'no-archive', '--export-path', 'out');
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual((await readdir(path.join(env.out, 'plain'))).sort(), ['MAR-INF', 'add.onnx']);
  const model = await env.open('plain');
  await model.close();
  const b = await env.run('--model-name', 'stored', '-v', '1', '--serialized-file', sharedModel('add.onnx'), '--archive-format', 'zip-store', '--export-path', 'out');
  assert.equal(b.code, 0, b.stderr);
  assert.ok((await zipEntries(path.join(env.out, 'stored.mar'))).every((e) => e.method === 0));
  assert.deepEqual((await readdir(env.out)).sort(), ['plain', 'stored.mar'], 'no temp files left');
});

test('an existing archive is not overwritten without --force (TorchServe\'s message, exit 2)', async (t) => {
  const env = await setup(t);
  const args = ['--model-name', 'add', '-v', '1.0', '--serialized-file', sharedModel('add.onnx'), '--export-path', 'out'];
  assert.equal((await env.run(...args)).code, 0);
  const mar = path.join(env.out, 'add.mar');
  await writeFile(mar, 'previous');
  const refused = await env.run(...args);
  assert.equal(refused.code, 2);
  assert.equal(
    refused.stderr,
    `${mar} already exists.\nPlease specify --force/-f option to overwrite the model archive output file.\nSee -h/--help for more details.\n`,
  );
  assert.equal(await readFile(mar, 'utf8'), 'previous');
  const forced = await env.run(...args, '-f');
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(await readFile(mar, 'utf8'), 'previous');
  // --force also replaces a no-archive directory.
  const dirArgs = ['--model-name', 'd', '-v', '1', '--serialized-file', sharedModel('add.onnx'), '--archive-format', 'no-archive', '--export-path', 'out'];
  assert.equal((await env.run(...dirArgs)).code, 0);
  assert.equal((await env.run(...dirArgs)).code, 2);
  assert.equal((await env.run(...dirArgs, '--force')).code, 0);
  assert.deepEqual((await readdir(env.out)).sort(), ['add.mar', 'd']);
});

test('bad input: clear message, exit 2, nothing written', async (t) => {
  const env = await setup(t);
  await writeFile(path.join(env.root, 'not-onnx.onnx'), 'hello');
  await writeFile(path.join(env.root, 'no-such-op.onnx'), withUnknownOp(await readFile(sharedModel('add.onnx'))));
  await writeFile(path.join(env.root, 'h.py'), 'def handle(): pass');
  await writeFile(path.join(env.root, 'bad.yaml'), 'a: [1, 2\n');
  await writeFile(path.join(env.root, 'a-file'), 'x');
  await mkdir(path.join(env.root, 'other'));
  await writeFile(path.join(env.root, 'other', 'add.onnx'), 'a different file with the same name');
  const add = sharedModel('add.onnx');
  const base = ['-v', '1.0', '--export-path', 'out'];
  const cases: [string[], RegExp][] = [
    [['--model-name', 'bad name', '--serialized-file', add, ...base], /^Model name contains special characters\.\nThe allowed regular expression filter for model name is: \^\[A-Za-z0-9\]\[A-Za-z0-9_\\-\.\]\*\$\n$/],
    [['--model-name', '-x', '--serialized-file', add, ...base], /./],
    [['--model-name', 'm', '--serialized-file', 'missing.onnx', ...base], /^File does not exist: .*missing\.onnx\n$/],
    [['--model-name', 'm', '--serialized-file', 'not-onnx.onnx', ...base], /^Serialized file "not-onnx\.onnx" is not a valid ONNX model: /],
    [['--model-name', 'm', '--serialized-file', 'no-such-op.onnx', ...base], /^no-such-op\.onnx is not loadable by ONNX Runtime: .*Xyz/],
    [['--model-name', 'm', '--serialized-file', add, '--handler', 'h.py', ...base], /^Handler "h\.py" is a Python handler; tsserve runs JavaScript handlers/],
    [['--model-name', 'm', '--serialized-file', add, '--handler', 'text_classifier', ...base], /^Handler "text_classifier" is a Python handler/],
    [['--model-name', 'm', '--serialized-file', add, '--handler', 'missing.js', ...base], /^File does not exist: .*missing\.js\n$/],
    [['--model-name', 'm', '--serialized-file', add, '--extra-files', 'nope.json', ...base], /^File does not exist: .*nope\.json\n$/],
    [['--model-name', 'm', '--serialized-file', add, '--extra-files', 'other', ...base], /Two files would be stored as "add\.onnx"/],
    [['--model-name', 'm', '--serialized-file', add, '-c', 'bad.yaml', ...base], /^Cannot parse model config file "bad\.yaml"/],
    [['--model-name', 'm', '--serialized-file', add, '--archive-format', 'rar', ...base], /argument 'rar' is invalid/],
    [['--model-name', 'm', '--serialized-file', add, '--runtime', 'java', ...base], /argument 'java' is invalid/],
    [['--model-name', 'm', '--serialized-file', add], /required option '-v, --version <version>' not specified/],
    [['--model-name', 'm', '-v', '1'], /required option '--serialized-file <file>' not specified/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await env.run(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, argv.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(await stat(env.out).catch(() => undefined), undefined, `${argv.join(' ')} wrote something`);
  }
  const r = await env.run('--model-name', 'm', '--serialized-file', add, '-v', '1', '--export-path', 'a-file');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `Given export-path ${path.join(env.root, 'a-file')} is not a directory. Point to a valid export-path directory.\n`);
});

test('--help prints usage and exits 0', async (t) => {
  const env = await setup(t);
  const r = await env.run('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: tsserve-archiver/);
  assert.match(r.stdout, /--serialized-file <file>/);
});

test('bin/tsserve-archiver.js runs the compiled program', async (t) => {
  const env = await setup(t);
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsserve-archiver.js'), '--model-name', 'add', '-v', '1', '--serialized-file', sharedModel('add.onnx'), '--export-path', env.out], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `Model archive written to ${path.join(env.out, 'add.mar')}\n`);
  const bad = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsserve-archiver.js'), '--model-name', 'a b', '-v', '1', '--serialized-file', sharedModel('add.onnx')], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: env.root,
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Model name contains special characters/);
});
