import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { InvalidArchiveError, InvalidModelError, ModelLocationError, TsServeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { openModel } from '../../../src/archive/open-model.js';
import type { ArchiveLimits, OpenModelOptions } from '../../../src/archive/types.js';
import {
  buildMar,
  buildTarGz,
  buildZip,
  lieAboutZipSizes,
  manifestJson,
  sharedModelBytes,
  validEntries,
  writeModelDir,
} from '../../fixtures/archive-builder.js';

const DEFAULT_LIMITS: ArchiveLimits = { maxEntries: 10_000, maxUncompressedBytes: 8 * 1024 ** 3 };

type Env = {
  store: string;
  work: string;
  put(name: string, data: Buffer | string): Promise<string>;
  open(location: string, more?: Partial<OpenModelOptions>): ReturnType<typeof openModel>;
};

async function setup(t: TestContext): Promise<Env> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'tsserve-open-model-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = path.join(root, 'store');
  const work = path.join(root, 'work');
  await mkdir(store);
  return {
    store,
    work,
    async put(name, data) {
      await writeFile(path.join(store, name), data);
      return name;
    },
    open(location, more = {}) {
      return openModel(location, { modelStore: store, workRoot: work, limits: DEFAULT_LIMITS, log: silentLogger(), ...more });
    },
  };
}

async function workLeftovers(env: Env): Promise<string[]> {
  return readdir(env.work).catch(() => []);
}

/** Rejected with the given class and message, and nothing left in the work root. */
async function rejected(
  env: Env,
  location: string,
  cls: new (...args: never[]) => TsServeError,
  pattern: RegExp,
  more: Partial<OpenModelOptions> = {},
): Promise<void> {
  await assert.rejects(env.open(location, more), (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
  assert.deepEqual(await workLeftovers(env), [], 'a rejected archive left files behind');
}

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

// ---- accepted forms -----------------------------------------------------------------------------

test('a .mar opens into a private 0700 directory that close() removes', async (t) => {
  const env = await setup(t);
  const mar = await buildMar({}, { 'index_to_name.json': '{"0":"a"}' });
  await env.put('add.mar', mar);
  const model = await env.open('add.mar');
  assert.equal(path.dirname(model.dir), env.work);
  assert.match(path.basename(model.dir), /^[0-9a-f]{32}$/);
  assert.equal((await stat(model.dir)).mode & 0o777, 0o700);
  assert.equal(model.manifest.model.modelName, 'add');
  assert.equal(model.manifest.model.modelVersion, '1.0');
  assert.equal(model.serializedFile, path.join(model.dir, 'add.onnx'));
  assert.deepEqual(await readFile(model.serializedFile), await sharedModelBytes('add.onnx'));
  assert.equal(await readFile(path.join(model.dir, 'index_to_name.json'), 'utf8'), '{"0":"a"}');
  assert.deepEqual(model.handler, { kind: 'builtin', name: 'tensor' });
  assert.deepEqual(model.modelYamlConfig, {});
  assert.equal(model.sha256, sha256(mar));
  await model.close();
  await model.close(); // idempotent
  assert.deepEqual(await workLeftovers(env), []);
});

test('each open gets its own directory; absolute locations inside the store work', async (t) => {
  const env = await setup(t);
  await env.put('add.mar', await buildMar());
  const a = await env.open('add.mar');
  const b = await env.open(path.join(env.store, 'add.mar'));
  assert.notEqual(a.dir, b.dir);
  await a.close();
  assert.equal((await stat(b.serializedFile)).isFile(), true);
  await b.close();
});

test('a TorchServe-shaped manifest (runtime python, handler base_handler) opens with the tensor handler', async (t) => {
  const env = await setup(t);
  await env.put('ts.mar', await buildMar({ handler: 'base_handler', runtime: 'python', modelVersion: '2.0' }));
  const model = await env.open('ts.mar');
  t.after(() => model.close());
  assert.deepEqual(model.handler, { kind: 'builtin', name: 'tensor' });
  assert.equal(model.manifest.runtime, 'python');
  assert.equal(model.manifest.model.modelVersion, '2.0');
  assert.equal(model.manifest.archiverVersion, '0.12.0');
});

test('a manifest without modelVersion or runtime gets TorchServe defaults', async (t) => {
  const env = await setup(t);
  const manifest = JSON.stringify({ model: { modelName: 'add', serializedFile: 'add.onnx' } });
  await env.put('m.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifest }, { name: 'add.onnx', data: await sharedModelBytes('add.onnx') }]));
  const model = await env.open('m.mar');
  t.after(() => model.close());
  assert.equal(model.manifest.model.modelVersion, '1.0');
  assert.equal(model.manifest.runtime, 'python');
});

test('model_config.yaml: by manifest configFile, or model_config.yaml / model-config.yaml at the root', async (t) => {
  const env = await setup(t);
  const yaml = 'minWorkers: 1\nbatchSize: 4\nonnxruntime:\n  intraOpNumThreads: 1\n';
  await env.put('a.mar', await buildMar({}, { 'model_config.yaml': yaml }));
  await env.put('b.mar', await buildMar({}, { 'model-config.yaml': 'maxWorkers: 2\n' }));
  await env.put('c.mar', await buildMar({ configFile: 'conf/settings.yaml' }, { 'conf/settings.yaml': 'batchSize: 8\n', 'model_config.yaml': 'batchSize: 1\n' }));
  await env.put('d.mar', await buildMar({}, { 'model_config.yaml': '' }));
  const a = await env.open('a.mar');
  const b = await env.open('b.mar');
  const c = await env.open('c.mar');
  const d = await env.open('d.mar');
  t.after(() => Promise.all([a.close(), b.close(), c.close(), d.close()]));
  assert.deepEqual(a.modelYamlConfig, { minWorkers: 1, batchSize: 4, onnxruntime: { intraOpNumThreads: 1 } });
  assert.deepEqual(b.modelYamlConfig, { maxWorkers: 2 });
  assert.deepEqual(c.modelYamlConfig, { batchSize: 8 });
  assert.deepEqual(d.modelYamlConfig, {});
});

test('a JavaScript handler inside the archive resolves to its absolute path', async (t) => {
  const env = await setup(t);
  await env.put('js.mar', await buildMar({ handler: 'handlers/h.mjs' }, { 'handlers/h.mjs': 'export default {}' }));
  const model = await env.open('js.mar');
  t.after(() => model.close());
  assert.deepEqual(model.handler, { kind: 'js', file: path.join(model.dir, 'handlers', 'h.mjs') });
});

test('tgz: entries under <model-name>/ (our archiver, TorchServe) or at the root', async (t) => {
  const env = await setup(t);
  const onnx = await sharedModelBytes('add.onnx');
  const prefixed = buildTarGz([
    { path: 'add/', type: 'Directory' },
    { path: 'add/MAR-INF/', type: 'Directory' },
    { path: 'add/MAR-INF/MANIFEST.json', data: manifestJson() },
    { path: 'add/add.onnx', data: onnx },
    { path: 'add/model_config.yaml', data: 'batchSize: 2\n' },
  ]);
  const flat = buildTarGz([
    { path: './', type: 'Directory' },
    { path: './MAR-INF/MANIFEST.json', data: manifestJson() },
    { path: './add.onnx', data: onnx },
  ]);
  await env.put('add.tar.gz', prefixed);
  await env.put('flat.tgz', flat);
  const a = await env.open('add.tar.gz');
  const b = await env.open('flat.tgz');
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.equal(a.dir, path.join(path.dirname(a.dir), 'add'));
  assert.equal(path.dirname(path.dirname(a.dir)), env.work);
  assert.deepEqual(a.modelYamlConfig, { batchSize: 2 });
  assert.equal(a.sha256, sha256(prefixed));
  assert.equal(path.dirname(b.dir), env.work);
  assert.deepEqual(await readFile(b.serializedFile), onnx);
  await a.close();
  await b.close();
  assert.deepEqual(await workLeftovers(env), []);
});

test('a directory (no-archive) is copied: later changes to the source do not reach the model', async (t) => {
  const env = await setup(t);
  const src = path.join(env.store, 'addmodel');
  await writeModelDir(src, {
    'MAR-INF/MANIFEST.json': manifestJson(),
    'add.onnx': await sharedModelBytes('add.onnx'),
    'extra/notes.txt': 'hello',
  });
  await symlink('extra/notes.txt', path.join(src, 'notes-link.txt')); // a link that stays inside is followed
  const model = await env.open('addmodel');
  t.after(() => model.close());
  assert.equal(path.dirname(model.dir), env.work);
  assert.equal(await readFile(path.join(model.dir, 'notes-link.txt'), 'utf8'), 'hello');
  assert.equal((await stat(path.join(model.dir, 'notes-link.txt'))).isFile(), true);
  assert.match(model.sha256, /^[0-9a-f]{64}$/);
  await writeFile(path.join(src, 'add.onnx'), 'changed');
  assert.deepEqual(await readFile(model.serializedFile), await sharedModelBytes('add.onnx'));
  // Same content, same fingerprint.
  await writeFile(path.join(src, 'add.onnx'), await sharedModelBytes('add.onnx'));
  const again = await env.open('addmodel');
  t.after(() => again.close());
  assert.equal(again.sha256, model.sha256);
});

test('a directory holding exactly one sub-directory uses that sub-directory', async (t) => {
  const env = await setup(t);
  await writeModelDir(path.join(env.store, 'wrapper', 'inner'), {
    'MAR-INF/MANIFEST.json': manifestJson(),
    'add.onnx': await sharedModelBytes('add.onnx'),
  });
  const model = await env.open('wrapper');
  t.after(() => model.close());
  assert.equal(path.basename(model.dir), 'inner');
  assert.equal(model.manifest.model.modelName, 'add');
});

test('overrides: register model_name wins, startup fallback fills a missing name, handler override', async (t) => {
  const env = await setup(t);
  await env.put('named.mar', await buildMar());
  await env.put('nameless.mar', await buildMar({ modelName: undefined }));
  const a = await env.open('named.mar', { overrides: { modelName: 'renamed', handler: 'image_classifier' } });
  const b = await env.open('nameless.mar', { overrides: { fallbackModelName: 'nameless' } });
  const c = await env.open('named.mar', { overrides: { fallbackModelName: 'ignored', defaultHandler: 'image_classifier' } });
  t.after(() => Promise.all([a.close(), b.close(), c.close()]));
  assert.equal(a.manifest.model.modelName, 'renamed');
  assert.deepEqual(a.handler, { kind: 'builtin', name: 'image_classifier' });
  assert.equal(b.manifest.model.modelName, 'nameless');
  assert.equal(c.manifest.model.modelName, 'add');
  assert.deepEqual(c.handler, { kind: 'builtin', name: 'image_classifier' });
});

// ---- locations ----------------------------------------------------------------------------------

test('locations: "..", outside the store, missing (TorchServe 404s)', async (t) => {
  const env = await setup(t);
  await rejected(env, '../add.mar', ModelLocationError, /^Relative path is not allowed in url: \.\.\/add\.mar$/);
  await rejected(env, 'a/../add.mar', ModelLocationError, /Relative path is not allowed/);
  await rejected(env, '/etc/passwd', ModelLocationError, /^Model not found at: \/etc\/passwd$/);
  await rejected(env, 'missing.mar', ModelLocationError, /^Model not found at: missing\.mar$/);
  await rejected(env, '', ModelLocationError, /^empty url$/);
  await assert.rejects(env.open('missing.mar'), (err: TsServeError) => err.status === 404 && err.type === 'ModelNotFoundException');
});

// ---- hostile zips -------------------------------------------------------------------------------

async function hostileZip(env: Env, entries: Parameters<typeof buildZip>[0]): Promise<string> {
  return env.put('hostile.mar', await buildZip([...(await validEntries()), ...entries]));
}

test('zip-slip: ../ entries, absolute paths, drive letters and backslashes are refused', async (t) => {
  const env = await setup(t);
  const cases: [string, RegExp][] = [
    ['../evil.txt', /Unsafe archive entry "\.\.\/evil\.txt": escapes the extraction directory/],
    ['a/../../evil.txt', /escapes the extraction directory/],
    ['/tmp/evil.txt', /absolute path/],
    ['C:/evil.txt', /drive letter/],
    ['..\\evil.txt', /backslash/],
  ];
  for (const [name, pattern] of cases) {
    await rejected(env, await hostileZip(env, [{ name, data: 'x' }]), InvalidArchiveError, pattern);
  }
  // Nothing escaped next to the store or the work root.
  assert.deepEqual((await readdir(path.dirname(env.store))).sort(), ['store', 'work']);
});

test('symlink and special-file entries in a zip are refused', async (t) => {
  const env = await setup(t);
  await rejected(env, await hostileZip(env, [{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]), InvalidArchiveError, /"link" is a symbolic link/);
  await rejected(env, await hostileZip(env, [{ name: 'fifo', data: '', mode: 0o010644 }]), InvalidArchiveError, /not a regular file or directory/);
});

test('more entries than max_archive_entries are refused', async (t) => {
  const env = await setup(t);
  await env.put('many.mar', await buildMar({}, { a: '1', b: '2', c: '3' }));
  await rejected(env, 'many.mar', InvalidArchiveError, /more than 4 entries \(max_archive_entries\)/, {
    limits: { maxEntries: 4, maxUncompressedBytes: 1e9 },
  });
  const ok = await env.open('many.mar', { limits: { maxEntries: 5, maxUncompressedBytes: 1e9 } });
  await ok.close();
});

test('an archive expanding past max_archive_uncompressed_size is refused', async (t) => {
  const env = await setup(t);
  await env.put('big.mar', await buildMar({}, { 'zeros.bin': Buffer.alloc(200_000) }));
  await rejected(env, 'big.mar', InvalidArchiveError, /more than 100000 bytes \(max_archive_uncompressed_size\)/, {
    limits: { maxEntries: 100, maxUncompressedBytes: 100_000 },
  });
});

test('a zip bomb whose headers lie about the size is stopped while extracting', async (t) => {
  const env = await setup(t);
  const honest = await buildMar({}, { 'bomb.bin': Buffer.alloc(5_000_000) });
  // Both headers claim 100 bytes; the deflate stream really holds 5 MB of zeros.
  await env.put('bomb.mar', lieAboutZipSizes(honest, 'bomb.bin', 100));
  await rejected(env, 'bomb.mar', InvalidArchiveError, /Invalid zip archive|max_archive_uncompressed_size/, {
    limits: { maxEntries: 100, maxUncompressedBytes: 1_000_000 },
  });
});

test('duplicate entries are refused', async (t) => {
  const env = await setup(t);
  await rejected(env, await hostileZip(env, [{ name: 'add.onnx', data: 'second copy' }]), InvalidArchiveError, /Duplicate archive entry "add.onnx"/);
  await rejected(env, await hostileZip(env, [{ name: './MAR-INF/MANIFEST.json', data: '{}' }]), InvalidArchiveError, /Duplicate archive entry "MAR-INF\/MANIFEST.json"/);
});

test('a file that is no archive, or a truncated zip, is refused', async (t) => {
  const env = await setup(t);
  await env.put('text.mar', 'just some text, not a zip at all');
  await rejected(env, 'text.mar', InvalidArchiveError, /"text.mar" is neither a zip \(.mar\) nor a gzip'd tar archive/);
  const mar = await buildMar();
  await env.put('cut.mar', mar.subarray(0, mar.length - 30));
  await rejected(env, 'cut.mar', InvalidArchiveError, /^Invalid zip archive: /);
});

// ---- manifest problems --------------------------------------------------------------------------

test('missing or unparsable manifest', async (t) => {
  const env = await setup(t);
  await env.put('none.mar', await buildZip([{ name: 'add.onnx', data: await sharedModelBytes('add.onnx') }]));
  await rejected(env, 'none.mar', InvalidArchiveError, /^Missing MAR-INF\/MANIFEST.json in the model archive\.$/);
  await env.put('bad.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: '{"model": {' }, { name: 'add.onnx', data: await sharedModelBytes('add.onnx') }]));
  await rejected(env, 'bad.mar', InvalidArchiveError, /^Failed to parse MAR-INF\/MANIFEST.json: /);
});

test('manifest field problems use TorchServe\'s messages', async (t) => {
  const env = await setup(t);
  const onnx = await sharedModelBytes('add.onnx');
  const cases: [string, RegExp][] = [
    [JSON.stringify({ runtime: 'python' }), /^Missing Model entry in manifest file\.$/],
    [JSON.stringify({ model: { serializedFile: 'add.onnx' } }), /^Model name is not defined\.$/],
    [JSON.stringify({ runtime: 'java', model: { modelName: 'add', serializedFile: 'add.onnx' } }), /^Runtime is not defined or invalid\.$/],
    [JSON.stringify({ model: { modelName: 'add' } }), /Serialized file is not defined \(manifest field model.serializedFile\)/],
    [JSON.stringify({ model: { modelName: 'add', serializedFile: '../add.onnx' } }), /Manifest field model.serializedFile must be a relative path inside the archive/],
  ];
  for (const [manifest, pattern] of cases) {
    await env.put('m.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifest }, { name: 'add.onnx', data: onnx }]));
    await rejected(env, 'm.mar', InvalidModelError, pattern);
  }
});

test('serialized file missing, or not an ONNX model', async (t) => {
  const env = await setup(t);
  await env.put('missing.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson({ serializedFile: 'model.onnx' }) }]));
  await rejected(env, 'missing.mar', InvalidArchiveError, /^Serialized file "model.onnx" named in the manifest is missing from the archive\.$/);
  await env.put('text.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson() }, { name: 'add.onnx', data: 'this is not a protobuf' }]));
  await rejected(env, 'text.mar', InvalidArchiveError, /^Serialized file "add.onnx" is not a valid ONNX model: .+/);
  // A TorchScript file under an .onnx name (TorchServe archives carry .pt files).
  await env.put('pt.mar', await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson() }, { name: 'add.onnx', data: Buffer.from('PK\u0003\u0004 torchscript zip') }]));
  await rejected(env, 'pt.mar', InvalidArchiveError, /is not a valid ONNX model/);
});

test('Python handlers are refused by name; a missing JS handler file is refused', async (t) => {
  const env = await setup(t);
  for (const handler of ['mnist_handler.py', 'text_classifier', 'object_detector']) {
    await env.put('py.mar', await buildMar({ handler }));
    await rejected(env, 'py.mar', InvalidModelError, new RegExp(`^Handler "${handler}" is a Python handler; tsserve runs JavaScript handlers`));
  }
  await env.put('js.mar', await buildMar({ handler: 'handler.js' }));
  await rejected(env, 'js.mar', InvalidArchiveError, /^Handler file "handler.js" named in the manifest is missing from the archive\.$/);
});

test('model config: unparsable YAML or a named file that is missing', async (t) => {
  const env = await setup(t);
  await env.put('y.mar', await buildMar({}, { 'model_config.yaml': 'batchSize: [1, 2\n' }));
  await rejected(env, 'y.mar', InvalidArchiveError, /^Cannot parse model config file "model_config.yaml": /);
  await env.put('l.mar', await buildMar({}, { 'model_config.yaml': '- a\n- b\n' }));
  await rejected(env, 'l.mar', InvalidArchiveError, /"model_config.yaml" must be a YAML mapping/);
  await env.put('n.mar', await buildMar({ configFile: 'conf.yaml' }));
  await rejected(env, 'n.mar', InvalidArchiveError, /^Config file "conf.yaml" named in the manifest is missing from the archive\.$/);
});

// ---- ONNX external data -------------------------------------------------------------------------

function modelWithExternalData(location: string, length = 4): Uint8Array {
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }] } } } });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
        initializer: [
          {
            name: 'w',
            dims: [1],
            dataType: FLOAT,
            dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
            externalData: [
              { key: 'location', value: location },
              { key: 'offset', value: '0' },
              { key: 'length', value: String(length) },
            ],
          },
        ],
        input: [vi('x')],
        output: [vi('y')],
      },
    }),
  ).finish();
}

async function externalMar(location: string, files: Record<string, Buffer | string>, length?: number): Promise<Buffer> {
  return buildZip([
    { name: 'MAR-INF/MANIFEST.json', data: manifestJson({ serializedFile: 'model.onnx' }) },
    { name: 'model.onnx', data: Buffer.from(modelWithExternalData(location, length)) },
    ...Object.entries(files).map(([name, data]) => ({ name, data })),
  ]);
}

test('ONNX external data must stay inside the archive and exist', async (t) => {
  const env = await setup(t);
  const weights = Buffer.alloc(4);
  await env.put('ok.mar', await externalMar('weights.bin', { 'weights.bin': weights }));
  const ok = await env.open('ok.mar');
  await ok.close();
  await env.put('up.mar', await externalMar('../../../../etc/passwd', {}));
  await rejected(env, 'up.mar', InvalidArchiveError, /External data "..\/..\/..\/..\/etc\/passwd" of tensor "w" in model.onnx points outside the model archive/);
  await env.put('abs.mar', await externalMar('/etc/passwd', {}));
  await rejected(env, 'abs.mar', InvalidArchiveError, /must be a relative path inside the model archive/);
  await env.put('gone.mar', await externalMar('weights.bin', {}));
  await rejected(env, 'gone.mar', InvalidArchiveError, /External data "weights.bin" of tensor "w" in model.onnx is missing from the model archive/);
  await env.put('short.mar', await externalMar('weights.bin', { 'weights.bin': weights }, 400));
  await rejected(env, 'short.mar', InvalidArchiveError, /is shorter than the offset and length/);
});

// ---- hostile tars -------------------------------------------------------------------------------

test('tar: links, devices, escaping and absolute paths are refused', async (t) => {
  const env = await setup(t);
  const base = [
    { path: 'm/MAR-INF/MANIFEST.json', data: manifestJson() },
    { path: 'm/add.onnx', data: await sharedModelBytes('add.onnx') },
  ];
  const cases: [Parameters<typeof buildTarGz>[0][number], RegExp][] = [
    [{ path: 'm/link', type: 'SymbolicLink', linkpath: '/etc/passwd' }, /"m\/link" is a link/],
    [{ path: 'm/hard', type: 'Link', linkpath: 'm/add.onnx' }, /"m\/hard" is a link/],
    [{ path: 'm/dev', type: 'CharacterDevice' }, /not a regular file or directory \(tar type CharacterDevice\)/],
    [{ path: '../evil.txt', data: 'x' }, /escapes the extraction directory/],
    [{ path: '/tmp/evil.txt', data: 'x' }, /absolute path/],
    [{ path: 'm/add.onnx', data: 'again' }, /Duplicate archive entry "m\/add.onnx"/],
  ];
  for (const [entry, pattern] of cases) {
    await env.put('bad.tar.gz', buildTarGz([...base, entry]));
    await rejected(env, 'bad.tar.gz', InvalidArchiveError, pattern);
  }
  await env.put('many.tar.gz', buildTarGz([...base, { path: 'm/a', data: '1' }]));
  await rejected(env, 'many.tar.gz', InvalidArchiveError, /more than 2 entries/, { limits: { maxEntries: 2, maxUncompressedBytes: 1e9 } });
  await env.put('big.tar.gz', buildTarGz([...base, { path: 'm/zeros', data: Buffer.alloc(300_000) }]));
  await rejected(env, 'big.tar.gz', InvalidArchiveError, /more than 100000 bytes/, { limits: { maxEntries: 100, maxUncompressedBytes: 100_000 } });
  await env.put('cut.tar.gz', buildTarGz(base).subarray(0, 40));
  await rejected(env, 'cut.tar.gz', InvalidArchiveError, /^Invalid tar archive: /);
});

// ---- hostile directories ------------------------------------------------------------------------

test('directory: a symlink leaving it is refused and nothing is left behind', async (t) => {
  const env = await setup(t);
  const src = path.join(env.store, 'linked');
  await writeModelDir(src, { 'MAR-INF/MANIFEST.json': manifestJson(), 'add.onnx': await sharedModelBytes('add.onnx') });
  await writeFile(path.join(env.store, 'secret.txt'), 'secret');
  await symlink(path.join(env.store, 'secret.txt'), path.join(src, 'secret.txt'));
  await rejected(env, 'linked', InvalidArchiveError, /Symbolic link "secret.txt" points outside the model directory/);
});

test('directory: the same limits as archives', async (t) => {
  const env = await setup(t);
  await writeModelDir(path.join(env.store, 'big'), {
    'MAR-INF/MANIFEST.json': manifestJson(),
    'add.onnx': await sharedModelBytes('add.onnx'),
    'zeros.bin': Buffer.alloc(50_000),
  });
  await rejected(env, 'big', InvalidArchiveError, /more than 10000 bytes/, { limits: { maxEntries: 100, maxUncompressedBytes: 10_000 } });
  await rejected(env, 'big', InvalidArchiveError, /more than 2 entries/, { limits: { maxEntries: 2, maxUncompressedBytes: 1e9 } });
});
