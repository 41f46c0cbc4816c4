/**
 * Cheap structural check of an ONNX file: it must decode as an onnx.ModelProto with a graph, and
 * every tensor stored as external data must point at a file inside the model directory. Creating an
 * ONNX Runtime session (the real "is it loadable" test) is the engine's job, in a worker thread.
 */
import { lstat, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { InvalidArchiveError } from '../errors.js';
import { printable } from './extraction-guard.js';

const EXTERNAL = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
const MAX_PROTOBUF_BYTES = 2 ** 31;

/** Decodes an ONNX model; throws InvalidArchiveError with the decoder's message. */
export function decodeOnnxModel(bytes: Uint8Array, label: string): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw notOnnx(label, (err as Error).message);
  }
  if (!model.graph) throw notOnnx(label, 'it has no graph');
  if ((model.graph.output ?? []).length === 0) throw notOnnx(label, 'its graph has no outputs');
  return model;
}

function notOnnx(label: string, detail: string): InvalidArchiveError {
  return new InvalidArchiveError(`Serialized file "${printable(label)}" is not a valid ONNX model: ${detail}.`);
}

export type ExternalDataRef = { tensor: string; location: string; offset?: number; length?: number };

/** Every external-data reference in the model: initializers, sparse initializers, attribute tensors, subgraphs. */
export function externalDataRefs(model: onnx.IModelProto): ExternalDataRef[] {
  const refs: ExternalDataRef[] = [];
  const visitTensor = (t: onnx.ITensorProto | null | undefined): void => {
    if (!t || t.dataLocation !== EXTERNAL) return;
    const ref: ExternalDataRef = { tensor: t.name ?? '', location: '' };
    for (const entry of t.externalData ?? []) {
      if (entry.key === 'location') ref.location = entry.value ?? '';
      else if (entry.key === 'offset') ref.offset = Number(entry.value);
      else if (entry.key === 'length') ref.length = Number(entry.value);
    }
    refs.push(ref);
  };
  const visitNodes = (nodes: onnx.INodeProto[] | null | undefined): void => {
    for (const node of nodes ?? []) {
      for (const attr of node.attribute ?? []) {
        visitTensor(attr.t);
        for (const t of attr.tensors ?? []) visitTensor(t);
        if (attr.sparseTensor) {
          visitTensor(attr.sparseTensor.values);
          visitTensor(attr.sparseTensor.indices);
        }
        visitGraph(attr.g);
        for (const g of attr.graphs ?? []) visitGraph(g);
      }
    }
  };
  const visitGraph = (g: onnx.IGraphProto | null | undefined): void => {
    if (!g) return;
    for (const t of g.initializer ?? []) visitTensor(t);
    for (const s of g.sparseInitializer ?? []) {
      visitTensor(s.values);
      visitTensor(s.indices);
    }
    visitNodes(g.node);
  };
  visitGraph(model.graph);
  for (const fn of model.functions ?? []) visitNodes(fn.node);
  return refs;
}

/**
 * Reads and checks the serialized file at `file` (inside `rootDir`). External data locations are
 * relative to the ONNX file's directory (ONNX external-data spec) and must stay inside `rootDir`.
 */
export async function checkOnnxFile(file: string, rootDir: string): Promise<onnx.ModelProto> {
  const label = path.relative(rootDir, file).split(path.sep).join('/');
  // Protobuf messages stop at 2 GiB: bigger models keep their weights as external data.
  if ((await stat(file)).size >= MAX_PROTOBUF_BYTES) {
    throw notOnnx(label, 'it is 2 GiB or larger; models that big must store their weights as external data');
  }
  const model = decodeOnnxModel(await readFile(file), label);
  const root = path.resolve(rootDir);
  for (const ref of externalDataRefs(model)) {
    const where = `External data "${printable(ref.location)}" of tensor "${printable(ref.tensor)}" in ${printable(label)}`;
    if (ref.location === '') {
      throw new InvalidArchiveError(`Tensor "${printable(ref.tensor)}" in ${printable(label)} is stored as external data without a location.`);
    }
    if (ref.location.includes('\\') || ref.location.includes('\0') || path.posix.isAbsolute(ref.location) || /^[A-Za-z]:/.test(ref.location)) {
      throw new InvalidArchiveError(`${where} must be a relative path inside the model archive.`);
    }
    const target = path.resolve(path.dirname(file), ...ref.location.split('/'));
    if (!target.startsWith(root + path.sep)) {
      throw new InvalidArchiveError(`${where} points outside the model archive.`);
    }
    const info = await lstat(target).catch(() => undefined);
    if (!info?.isFile()) {
      throw new InvalidArchiveError(`${where} is missing from the model archive.`);
    }
    const offset = ref.offset ?? 0;
    const length = ref.length ?? 0;
    if (!(offset >= 0 && length >= 0 && offset + length <= info.size)) {
      throw new InvalidArchiveError(`${where} is shorter than the offset and length the model gives.`);
    }
  }
  return model;
}
