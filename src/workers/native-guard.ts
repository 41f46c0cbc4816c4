/**
 * Terminating a worker thread while it is inside onnxruntime-node's native code aborts the whole
 * process ("terminate called after throwing an instance of 'Napi::Error'": the addon's N-API
 * calls fail once the thread is being torn down, and the C++ exception escapes). So the main
 * thread only terminates a worker when no native call is in progress there.
 *
 * A SharedArrayBuffer holds two counters: [0] native calls in progress in the worker, [1] a
 * "stopping" flag set by the main thread. The worker wraps every ONNX Runtime session creation
 * and run (and sharp's image work) in `NativeGuard.wrap`, which refuses to start a native call
 * once stopping is set; the main thread sets stopping, waits until [0] is 0, then terminates.
 * A JavaScript busy loop holds no native call, so it is terminated at once.
 */
import type * as ortModule from 'onnxruntime-node';

type Ort = typeof ortModule;

const ACTIVE = 0;
const STOPPING = 1;

export function createGuardBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
}

/** Worker side. */
export class NativeGuard {
  private readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  get isStopping(): boolean {
    return Atomics.load(this.cells, STOPPING) !== 0;
  }

  /** Runs `fn` (which starts native work) counted as a native call in progress. */
  async wrap<T>(fn: () => Promise<T>): Promise<T> {
    if (this.isStopping) throw new Error('worker is stopping');
    Atomics.add(this.cells, ACTIVE, 1);
    try {
      return await fn();
    } finally {
      Atomics.sub(this.cells, ACTIVE, 1);
    }
  }
}

/** Main-thread side: stop new native calls and resolve once none is in progress. */
export async function waitForNativeCalls(buffer: SharedArrayBuffer, pollMs = 5): Promise<void> {
  const cells = new Int32Array(buffer);
  Atomics.store(cells, STOPPING, 1);
  while (Atomics.load(cells, ACTIVE) > 0) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Patches onnxruntime-node inside a worker so every session creation and run goes through the
 * guard — including those of custom handlers, which reach ORT through `context.ort` / `session`.
 */
export function guardOrt(ort: Ort, guard: NativeGuard): void {
  const Session = ort.InferenceSession as unknown as {
    create: (...args: unknown[]) => Promise<unknown>;
    prototype: { run: (...args: unknown[]) => Promise<unknown> };
    __tsserveGuarded?: boolean;
  };
  if (Session.__tsserveGuarded === true) return;
  Session.__tsserveGuarded = true;
  const create = Session.create.bind(Session);
  Session.create = (...args: unknown[]) => guard.wrap(() => create(...args));
  const run = Session.prototype.run;
  Session.prototype.run = function guardedRun(this: unknown, ...args: unknown[]) {
    return guard.wrap(() => run.apply(this, args));
  };
}
