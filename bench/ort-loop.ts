/**
 * In-process ONNX Runtime ceiling: one worker thread owns one session and calls run() on the
 * canonical batch-1 input in a loop. bench/run.ts starts as many as the server has workers, each
 * with the server's intra-op thread count, and starts them together.
 *
 *   main --workerData--> load, check the answer --"ready"--> main --"go"--> loop until deadline
 *   --"done" {runs, seconds}--> main
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { canonicalFloat32, product } from './lib/inputs.js';

type Job = { file: string; inputName: string; sampleShape: number[]; intraOpNumThreads: number; durationSec: number };

const job = workerData as Job;
const port = parentPort!;

const session = await ort.InferenceSession.create(job.file, {
  intraOpNumThreads: job.intraOpNumThreads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const feeds = { [job.inputName]: new ort.Tensor('float32', canonicalFloat32(product(job.sampleShape)), [1, ...job.sampleShape]) };
const first = await session.run(feeds);
const output = Array.from((Object.values(first)[0]!.data as Float32Array).slice(0, 1000));
for (let i = 0; i < 3; i++) await session.run(feeds); // warm-up
port.postMessage({ kind: 'ready', output });

port.once('message', async () => {
  const start = performance.now();
  const deadline = start + job.durationSec * 1000;
  let runs = 0;
  while (performance.now() < deadline) {
    await session.run(feeds);
    runs++;
  }
  const seconds = (performance.now() - start) / 1000;
  await session.release();
  port.postMessage({ kind: 'done', runs, seconds });
});
