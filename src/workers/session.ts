/**
 * ONNX Runtime session helpers used inside worker threads.
 */
import type * as ortModule from 'onnxruntime-node';
import { isTensorDtype } from './io.js';
import type { ModelIO, ModelSpec, TensorInfo } from './types.js';

type Ort = typeof ortModule;
type Session = ortModule.InferenceSession;
type ValueMetadata = Session['inputMetadata'][number];

function tensorInfo(m: ValueMetadata, role: 'input' | 'output'): TensorInfo {
  if (!m.isTensor) throw new Error(`${role} "${m.name}" is not a tensor (sequence and map values are not supported)`);
  if (!isTensorDtype(m.type)) throw new Error(`${role} "${m.name}" has element type ${m.type}, which tsserve does not support`);
  return { name: m.name, dtype: m.type, shape: [...m.shape] };
}

/** Names, element types and shapes (symbolic dims as strings) from the session metadata. */
export function readIO(session: Session): ModelIO {
  return {
    inputs: session.inputMetadata.map((m) => tensorInfo(m, 'input')),
    outputs: session.outputMetadata.map((m) => tensorInfo(m, 'output')),
  };
}

/**
 * Creates the session with the model's options. When a non-CPU execution provider is not
 * available, retries on CPU and reports that through `onFallback`.
 */
export async function createSession(
  ort: Ort,
  file: string,
  session: ModelSpec['session'],
  onFallback: (message: string) => void,
): Promise<Session> {
  const options: ortModule.InferenceSession.SessionOptions = {
    intraOpNumThreads: session.intraOpNumThreads,
    interOpNumThreads: session.interOpNumThreads,
    graphOptimizationLevel: session.graphOptimizationLevel,
    executionMode: 'sequential',
    executionProviders: session.executionProviders.length > 0 ? session.executionProviders : ['cpu'],
  };
  try {
    return await ort.InferenceSession.create(file, options);
  } catch (err) {
    const eps = options.executionProviders as string[];
    if (eps.every((e) => e === 'cpu')) throw err;
    onFallback(`execution providers [${eps.join(', ')}] failed (${(err as Error).message}); using cpu`);
    return ort.InferenceSession.create(file, { ...options, executionProviders: ['cpu'] });
  }
}
