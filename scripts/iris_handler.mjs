// iris_handler.mjs: the handler of the bundled example, model_store/iris.mar (docs/handlers.md).
// It replaces only `postprocess`: the tensor handler still decodes requests, batches them and runs
// the model; each row of the `probabilities` output is then answered as {"class name": probability},
// most probable first, with the names from index_to_name.json.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const names = [];

export async function initialize(context) {
  // TorchServe's format: {"0": "setosa"} or {"0": ["n0001", "setosa"]} (the last element is the name).
  const map = JSON.parse(await readFile(path.join(context.modelDir, 'index_to_name.json'), 'utf8'));
  for (const [index, value] of Object.entries(map)) names[Number(index)] = [value].flat().at(-1);
}

const byName = (row) =>
  Object.fromEntries(names.map((name, k) => [name, row[k]]).sort((a, b) => b[1] - a[1]));

export function postprocess(batch, context) {
  // The base answers: errors, Open Inference Protocol tensors, content types.
  const answers = context.base.postprocess(batch, context);
  return batch.requests.map((request, i) => {
    if (request.error !== undefined || request.protocol === 'oip-v2') return answers[i];
    const named = request.blocks.map((block) => byName(block.outputs.probabilities.data));
    return request.protocol === 'kserve-v1' ? { predictions: named } : named[0];
  });
}
