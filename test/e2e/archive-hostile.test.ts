/**
 * Black-box proof of issue #4's "archives are untrusted input" through the server: hostile archives
 * (zip-slip, absolute entries, symlinks, hard links, links in a model directory, broken manifests)
 * are refused with 400 at registration and leave nothing behind: the model store is unchanged, no
 * extraction directory remains under the server's work root, and nothing was written outside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildMar, buildTarGz, buildZip, manifestJson, sharedModelBytes, validEntries, withUnknownOp } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, startBackground } from '../helpers/tsserve.js';

/** Every path under `dir` (relative), for before/after comparisons. */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

test('hostile archives are refused with 400 at registration and leave nothing behind', async (t) => {
  const ws = makeWorkspace(t);
  const tmp = path.join(ws.dir, 'tmp');
  fs.mkdirSync(tmp);
  const workRoot = path.join(tmp, 'tsserve-models');
  const outside = path.join(ws.dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'not for models');

  const entries = await validEntries();
  const addOnnx = await sharedModelBytes('add.onnx');
  const tarValid = [
    { path: 'MAR-INF/MANIFEST.json', data: manifestJson() },
    { path: 'add.onnx', data: addOnnx },
  ];
  const hostile: Record<string, Buffer> = {
    'slip.mar': await buildZip([...entries, { name: '../evil.txt', data: 'escaped' }]),
    'slip-deep.mar': await buildZip([...entries, { name: 'a/../../../evil.txt', data: 'escaped' }]),
    'absolute.mar': await buildZip([...entries, { name: `${outside}/evil.txt`, data: 'escaped' }]),
    'backslash.mar': await buildZip([...entries, { name: '..\\evil.txt', data: 'escaped' }]),
    'symlink.mar': await buildZip([...entries, { name: 'link', data: path.join(outside, 'secret.txt'), mode: 0o120777 }]),
    'symlink-onnx.mar': await buildZip([
      { name: 'MAR-INF/MANIFEST.json', data: manifestJson() },
      { name: 'add.onnx', data: path.join(outside, 'secret.txt'), mode: 0o120777 },
    ]),
    'slip.tar.gz': buildTarGz([...tarValid, { path: '../evil.txt', data: 'escaped' }]),
    'symlink.tar.gz': buildTarGz([...tarValid, { path: 'link', type: 'SymbolicLink', linkpath: path.join(outside, 'secret.txt') }]),
    'hardlink.tar.gz': buildTarGz([...tarValid, { path: 'hard', type: 'Link', linkpath: path.join(outside, 'secret.txt') }]),
    'device.tar.gz': buildTarGz([...tarValid, { path: 'dev', type: 'CharacterDevice' }]),
    'no-manifest.mar': await buildZip([{ name: 'add.onnx', data: addOnnx }]),
    'bad-manifest.mar': await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: '{"model": ' }, { name: 'add.onnx', data: addOnnx }]),
    'no-name.mar': await buildMar({ modelName: undefined }),
    'not-onnx.mar': await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson() }, { name: 'add.onnx', data: 'not an onnx model' }]),
    'missing-onnx.mar': await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson() }]),
    // Decodes as ONNX, but ONNX Runtime cannot load it (the Add node renamed to an unknown op).
    'no-such-op.mar': await buildZip([{ name: 'MAR-INF/MANIFEST.json', data: manifestJson() }, { name: 'add.onnx', data: withUnknownOp(addOnnx) }]),
  };
  for (const [name, bytes] of Object.entries(hostile)) fs.writeFileSync(path.join(ws.modelStore, name), bytes);
  // A no-archive model directory holding a link that leads out of it.
  fs.mkdirSync(path.join(ws.modelStore, 'linkdir', 'MAR-INF'), { recursive: true });
  fs.writeFileSync(path.join(ws.modelStore, 'linkdir', 'MAR-INF', 'MANIFEST.json'), manifestJson());
  fs.writeFileSync(path.join(ws.modelStore, 'linkdir', 'add.onnx'), addOnnx);
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(ws.modelStore, 'linkdir', 'secret.txt'));
  // A store entry that is itself a link out of the store.
  fs.symlinkSync(outside, path.join(ws.modelStore, 'escape'));

  const server = await startBackground(t, ws, ['--dt', '--enable-model-api', '--ncs'], { env: { TMPDIR: tmp } });
  const mgmt = server.addresses.management;
  const storeBefore = tree(ws.modelStore);
  const outsideBefore = tree(outside);
  const wsBefore = fs.readdirSync(ws.dir).sort();

  const unsafe = (entry: string, why: string) => new RegExp(`^Unsafe archive entry "${escapeRegExp(entry)}": ${why}\\.$`);
  const expectations: [string, RegExp][] = [
    ['slip.mar', unsafe('../evil.txt', 'escapes the extraction directory')],
    ['slip-deep.mar', unsafe('a/../../../evil.txt', 'escapes the extraction directory')],
    ['absolute.mar', unsafe(`${outside}/evil.txt`, 'is an absolute path')],
    ['backslash.mar', unsafe('..\\evil.txt', 'contains a backslash')],
    ['symlink.mar', /^Archive entry "link" is a symbolic link; links are not allowed\.$/],
    ['symlink-onnx.mar', /^Archive entry "add\.onnx" is a symbolic link; links are not allowed\.$/],
    ['slip.tar.gz', unsafe('../evil.txt', 'escapes the extraction directory')],
    ['symlink.tar.gz', /^Archive entry "link" is a link; links are not allowed\.$/],
    ['hardlink.tar.gz', /^Archive entry "hard" is a link; links are not allowed\.$/],
    ['device.tar.gz', /^Archive entry "dev" is not a regular file or directory/],
    ['no-manifest.mar', /^Missing MAR-INF\/MANIFEST\.json in the model archive\.$/],
    ['bad-manifest.mar', /^Failed to parse MAR-INF\/MANIFEST\.json: /],
    ['no-name.mar', /^Model name is not defined\.$/],
    ['not-onnx.mar', /^Serialized file "add\.onnx" is not a valid ONNX model: /],
    ['missing-onnx.mar', /^Serialized file "add\.onnx" named in the manifest is missing from the archive\.$/],
    ['no-such-op.mar', /^Invalid ONNX model add\.onnx: .*No Op registered for Xyz/],
    ['linkdir', /^Symbolic link "secret\.txt" points outside the model directory\.$/],
  ];
  for (const [url, message] of expectations) {
    const res = await httpRequest(`${mgmt}/models?url=${encodeURIComponent(url)}&initial_workers=1`, { method: 'POST' });
    const body = res.json<{ code: number; type: string; message: string }>();
    assert.equal(res.status, 400, `${url}: ${res.text}`);
    assert.deepEqual([body.code, body.type], [400, 'InvalidModelException'], url);
    assert.match(body.message, message, url);
    assert.deepEqual(tree(workRoot), [], `${url}: no extraction directory left behind`);
  }
  const escape = await httpRequest(`${mgmt}/models?url=escape&initial_workers=1`, { method: 'POST' });
  assert.deepEqual([escape.status, escape.json()], [404, { code: 404, type: 'ModelNotFoundException', message: 'Model not found at: escape' }]);

  assert.deepEqual((await httpRequest(`${mgmt}/models`)).json(), { models: [] }, 'nothing registered');
  assert.deepEqual(tree(ws.modelStore), storeBefore, 'model store unchanged');
  assert.deepEqual(tree(outside), outsideBefore, 'nothing written outside');
  assert.deepEqual(fs.readdirSync(ws.dir).sort(), wsBefore, 'no evil.txt next to the store');
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.includes('evil')), [], 'no evil.txt next to the work root');
  assert.equal(fs.readFileSync(path.join(outside, 'secret.txt'), 'utf8'), 'not for models');

  // The same server still registers an honest archive afterwards.
  fs.writeFileSync(path.join(ws.modelStore, 'good.mar'), await buildMar());
  const good = await httpRequest(`${mgmt}/models?url=good.mar&initial_workers=1`, { method: 'POST' });
  assert.equal(good.status, 200, good.text);
  assert.equal(tree(workRoot).filter((p) => !p.includes(path.sep)).length, 1, 'one extraction directory for the one model');
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** add.onnx with its one node's op_type "Add" replaced by "Xyz" (same length, so the protobuf stays valid). */
