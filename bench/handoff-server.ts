/**
 * The "hand-off floor": the leanest correct model server that runs inference in worker threads, as
 * every server must with onnxruntime-node (session.run() blocks its thread). It does only what any
 * such server must: read the body, hand it to a worker, run the model, send the worker's answer.
 * No logging, metrics or per-request records; bench/run.ts measures it next to the HTTP floor and
 * tsserve, so tsserve's distance to it is its own overhead.
 *
 *   node handoff-server.js <model.onnx> <workers> <intraOpThreads>     (env HANDOFF_KEY: bearer key)
 *   prints `LISTENING <port>`; POST /predictions/:model with a JSON (nested) array of one sample.
 *
 *   HTTP thread: raw body -> queue -> one flush per event-loop turn: every idle worker gets an
 *   even share of the queue in ONE message (bodies packed into one transferred ArrayBuffer)
 *   worker: decode each body (tsserve's number-array decoder, else JSON.parse) -> one Float32Array
 *   [n, ...] -> ONE session.run -> one JSON string per sample -> ONE message back. A worker gets
 *   nothing more until it has answered.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
// Loaded on the main thread too (unused there), as src/workers/engine.ts does: the main thread
// then holds the native addon for the life of the process.
import * as ort from 'onnxruntime-node';
import { parseNumberArray } from '../src/handlers/fast-json.js';
import { DEFAULT_INTER_OP_THREADS } from '../src/workers/thread-defaults.js';

type Batch = { bytes: ArrayBuffer; offsets: number[] };
/** One answer per body: the JSON text, or null for a body that is not one sample. */
type Answer = { outs: (string | null)[] } | { error: string };

if (isMainThread) await serve();
else await work(workerData as { file: string; intraOpNumThreads: number });

async function serve(): Promise<void> {
  const { default: Fastify } = await import('fastify');
  type Reply = import('fastify').FastifyReply;
  const [file, workerCount, intraOp] = [process.argv[2], Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 1)];
  if (file === undefined) throw new Error('usage: handoff-server <model.onnx> <workers> <intraOpThreads>');
  const expected = `Bearer ${process.env.HANDOFF_KEY ?? ''}`;

  type Slot = { thread: Worker; jobs: { body: Buffer; reply: Reply }[] | undefined };
  const queue: { body: Buffer; reply: Reply }[] = [];
  let scheduled = false;
  const slots: Slot[] = [];
  for (let i = 0; i < workerCount; i++) {
    const thread = new Worker(fileURLToPath(import.meta.url), { workerData: { file, intraOpNumThreads: intraOp } });
    const slot: Slot = { thread, jobs: undefined };
    thread.on('error', (err) => {
      process.stderr.write(`worker failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    });
    await new Promise((resolve) => thread.once('message', resolve)); // 'ready': session loaded
    thread.on('message', (answer: Answer) => {
      const jobs = slot.jobs!;
      slot.jobs = undefined;
      for (let j = 0; j < jobs.length; j++) {
        const out = 'outs' in answer ? answer.outs[j] : undefined;
        if (typeof out === 'string') jobs[j]!.reply.header('content-type', 'application/json').send(out);
        else if (out === null) jobs[j]!.reply.code(400).send({ error: 'body is not one JSON sample' });
        else jobs[j]!.reply.code(500).send({ error: (answer as { error: string }).error });
      }
      if (queue.length > 0) schedule();
    });
    slots.push(slot);
  }

  /** Every idle worker gets an even share of the queue, packed into one message. */
  const flush = (): void => {
    scheduled = false;
    const idle = slots.filter((s) => s.jobs === undefined);
    for (let left = idle.length; left > 0 && queue.length > 0; left--) {
      const jobs = queue.splice(0, Math.ceil(queue.length / left));
      const offsets = [0];
      for (const job of jobs) offsets.push(offsets[offsets.length - 1]! + job.body.length);
      const bytes = new ArrayBuffer(offsets[offsets.length - 1]!);
      const view = new Uint8Array(bytes);
      for (let j = 0; j < jobs.length; j++) view.set(jobs[j]!.body, offsets[j]!);
      const slot = idle[idle.length - left]!;
      slot.jobs = jobs;
      slot.thread.postMessage({ bytes, offsets } satisfies Batch, [bytes]);
    }
  };
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  // Same parsers as bench/floor-server.ts, except that JSON stays raw bytes: decoding happens in
  // the workers, off the event loop.
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/predictions/:model', (request, reply) => {
    // A plain (synchronous, promise-free) handler that returns nothing: Fastify then waits for
    // reply.send(), which comes when the worker answers.
    if (request.headers.authorization !== expected) {
      reply.code(401).send({ error: 'unauthorized' });
      return;
    }
    queue.push({ body: request.body as Buffer, reply });
    schedule();
  });

  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`LISTENING ${new URL(address).port}\n`);
  process.on('SIGTERM', () => {
    // Workers are idle once the server has drained; terminating them then is safe.
    void app.close().then(async () => {
      await Promise.all(slots.map((s) => s.thread.terminate()));
      process.exit(0);
    });
  });
}

async function work(init: { file: string; intraOpNumThreads: number }): Promise<void> {
  const session = await ort.InferenceSession.create(init.file, {
    intraOpNumThreads: init.intraOpNumThreads,
    interOpNumThreads: DEFAULT_INTER_OP_THREADS, // as tsserve's default session options
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const [inputName, outputName] = [session.inputNames[0]!, session.outputNames[0]!];
  // One sample's shape from the metadata ([N, 784] -> [784]); with a symbolic dim, the size of the
  // first number array received, fed flat.
  const meta = session.inputMetadata[0]!;
  const dims = meta.isTensor ? meta.shape.slice(1) : [];
  let sampleShape: number[] | undefined = meta.isTensor && dims.every((d) => typeof d === 'number') ? (dims as number[]) : undefined;
  let sampleSize = sampleShape?.reduce((a, b) => a * b, 1) ?? 0;

  /** Writes the numbers of `value` (any nesting) at `at`; returns the next index, -1 if not numbers. */
  const fill = (value: unknown, out: Float32Array, at: number, end: number): number => {
    if (typeof value === 'number') return at < end ? ((out[at] = value), at + 1) : -1;
    if (value instanceof Float32Array) return at + value.length <= end ? (out.set(value, at), at + value.length) : -1;
    if (!Array.isArray(value)) return -1;
    for (const v of value) if ((at = fill(v, out, at, end)) < 0) return -1;
    return at;
  };
  /** One sample's output as a nested array with its batch dimension: [[...]]. */
  const nest = (data: Float32Array, at: number, shape: readonly number[]): unknown[] => {
    if (shape.length === 1) return Array.from(data.subarray(at, at + shape[0]!));
    const step = shape.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[0]! }, (_, k) => nest(data, at + k * step, shape.slice(1)));
  };

  parentPort!.postMessage('ready');
  parentPort!.on('message', async ({ bytes, offsets }: Batch) => {
    const text = Buffer.from(bytes);
    const n = offsets.length - 1;
    const outs: (string | null)[] = new Array(n).fill(null);
    const values: unknown[] = new Array(n);
    for (let j = 0; j < n; j++) {
      // tsserve's decoder for plain number arrays (src/handlers/fast-json.ts, ~30% more mlp req/s
      // here than JSON.parse), JSON.parse for anything else: a floor must not do more than tsserve.
      const feed = parseNumberArray(new Uint8Array(bytes, offsets[j]!, offsets[j + 1]! - offsets[j]!), 'float32');
      if (feed !== undefined) {
        values[j] = feed.data;
        if (sampleShape === undefined) [sampleShape, sampleSize] = [[feed.data.length], feed.data.length];
        continue;
      }
      try {
        values[j] = JSON.parse(text.toString('utf8', offsets[j], offsets[j + 1]));
      } catch {
        values[j] = undefined;
      }
    }
    const input = new Float32Array(n * sampleSize);
    const good: number[] = []; // body index of each row fed
    for (let j = 0; j < n; j++) {
      const at = good.length * sampleSize;
      if (sampleSize > 0 && fill(values[j], input, at, at + sampleSize) === at + sampleSize) good.push(j);
    }
    try {
      if (good.length > 0) {
        const feed = new ort.Tensor('float32', input.subarray(0, good.length * sampleSize), [good.length, ...sampleShape!]);
        const out = (await session.run({ [inputName]: feed }))[outputName]!;
        const data = out.data as Float32Array;
        const shape = [1, ...out.dims.slice(1)];
        const size = data.length / good.length;
        for (let r = 0; r < good.length; r++) outs[good[r]!] = JSON.stringify(nest(data, r * size, shape));
      }
      parentPort!.postMessage({ outs } satisfies Answer);
    } catch (err) {
      parentPort!.postMessage({ error: (err as Error).message } satisfies Answer);
    }
  });
}
