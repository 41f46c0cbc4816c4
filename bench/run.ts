/**
 * `npm run bench` — issue #5 "Performance". Measures, side by side in one run on loopback:
 *
 *   1. in-process ONNX Runtime: batch-1 session.run loops for add, mlp and resnet18, with the
 *      server's default layout (workers x intra-op threads, src/workers/thread-defaults.ts);
 *   2. the HTTP floor: a bare Fastify server (bench/floor-server.ts) that only parses the body;
 *   2b. the hand-off floor (add and mlp, JSON): the leanest correct worker-thread model server
 *      (bench/handoff-server.ts), the least any server that runs ONNX Runtime off its HTTP thread
 *      must do; same layout as tsserve;
 *   3. tsserve started with the real CLI, token auth and metrics on: add and mlp with JSON bodies,
 *      resnet18 with raw float32 (application/octet-stream), at 16 and 64 connections; GET /ping
 *      latency while resnet18 is under load; mlp with batching on vs off at 64 connections.
 *
 * Needs Debian's wrk (`apt-get install -y wrk`) and a build (`npm run bench` builds first).
 * Every measurement is repeated in --rounds rounds (default 3; a case's floor and hand-off floor runs
 * right before its tsserve run) and reported as its median round: single runs on these machines vary by a third.
 *
 * Flags: --quick (one round of 3 s runs), --rounds <n>, --duration <s> (default 5, env
 * BENCH_DURATION_SEC), --wrk-threads <n>
 * (default 1), --connections 16,64, --resnet-json (also a 3 MB JSON resnet18 run), --no-write
 * (do not update docs/benchmarks.md), --out <file>.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeArchive } from '../src/archive/write-archive.js';
import { defaultWorkerLayout } from '../src/workers/thread-defaults.js';
import { canonicalFloat32, canonicalJson, checkOutput, loadModels, product, type BenchModel, type ModelName } from './lib/inputs.js';
import { startFloor, startTsserve, type Floor, type Tsserve } from './lib/processes.js';
import { describeRun, runWrk, writeScript, wrkAvailable, type WrkResult, type WrkRun } from './lib/wrk.js';

type Options = {
  durationSec: number;
  wrkThreads: number;
  connections: number[];
  resnetJson: boolean;
  write: boolean;
  out: string | undefined;
  quick: boolean;
  rounds: number;
};

const HERE = path.dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  let dir = HERE;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    durationSec: Number(process.env.BENCH_DURATION_SEC ?? 5),
    wrkThreads: 1,
    connections: [16, 64],
    resnetJson: false,
    write: true,
    out: undefined,
    quick: false,
    rounds: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') {
      opts.quick = true;
      opts.durationSec = 3;
      opts.rounds = 1;
    } else if (a === '--rounds') opts.rounds = Number(next());
    else if (a === '--duration') opts.durationSec = Number(next());
    else if (a === '--wrk-threads') opts.wrkThreads = Number(next());
    else if (a === '--connections') opts.connections = next().split(',').map(Number);
    else if (a === '--resnet-json') opts.resnetJson = true;
    else if (a === '--no-write') opts.write = false;
    else if (a === '--out') opts.out = next();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--rounds <n>] [--duration <s>] [--wrk-threads <n>] [--connections 16,64] [--resnet-json] [--no-write] [--out <file>]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${a}`);
  }
  if (!(opts.durationSec > 0) || !(opts.wrkThreads > 0) || !Number.isInteger(opts.rounds) || !(opts.rounds > 0) || opts.connections.some((c) => !(c > 0))) {
    throw new Error('durations, threads and connections must be positive');
  }
  return opts;
}

// ---- results -------------------------------------------------------------------------------------

type Row = {
  section: 'in-process' | 'floor' | 'hand-off floor' | 'tsserve';
  name: string;
  command: string;
  settings: string;
  perSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  pctFloor?: number;
  pctInProcess?: number;
  note?: string;
};

const rows: Row[] = [];
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// ---- 1. in-process ONNX Runtime ------------------------------------------------------------------

type Layout = { workers: number; intraOpNumThreads: number };

async function inProcess(model: BenchModel, layout: Layout, durationSec: number): Promise<{ samplesPerSec: number; error?: string }> {
  const script = path.join(HERE, 'ort-loop.js');
  const workers = Array.from(
    { length: layout.workers },
    () =>
      new Worker(script, {
        workerData: { file: model.file, inputName: model.inputName, sampleShape: model.sampleShape, intraOpNumThreads: layout.intraOpNumThreads, durationSec },
      }),
  );
  try {
    const ready = await Promise.all(
      workers.map(
        (w) =>
          new Promise<{ output: number[] }>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const error = checkOutput(model, ready[0]!.output);
    const done = workers.map(
      (w) =>
        new Promise<{ runs: number; seconds: number }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    for (const w of workers) w.postMessage('go');
    const results = await Promise.all(done);
    const samplesPerSec = results.reduce((s, r) => s + r.runs / r.seconds, 0);
    return error === undefined ? { samplesPerSec } : { samplesPerSec, error };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---- bodies and scripts --------------------------------------------------------------------------

type Case = { id: string; model: ModelName; contentType: 'application/json' | 'application/octet-stream'; bodyFile: string; label: string };

function writeBodies(dir: string, models: Record<ModelName, BenchModel>, resnetJson: boolean): Case[] {
  const cases: Case[] = [];
  const add = (model: ModelName, kind: 'json' | 'octet') => {
    const m = models[model];
    const bodyFile = path.join(dir, `${model}.${kind === 'json' ? 'json' : 'f32'}`);
    if (kind === 'json') writeFileSync(bodyFile, canonicalJson(m.sampleShape));
    else {
      const x = canonicalFloat32(product(m.sampleShape));
      writeFileSync(bodyFile, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    }
    const bytes = (kind === 'json' ? Buffer.byteLength(canonicalJson(m.sampleShape)) : product(m.sampleShape) * 4) / 1024;
    cases.push({
      id: `${model}-${kind}`,
      model,
      contentType: kind === 'json' ? 'application/json' : 'application/octet-stream',
      bodyFile,
      label: `${model} ${kind === 'json' ? 'JSON' : 'float32'} ${bytes < 1 ? `${Math.round(bytes * 1024)} B` : `${bytes.toFixed(1)} KB`}`,
    });
  };
  add('add', 'json');
  add('mlp', 'json');
  add('resnet18', 'octet');
  if (resnetJson) add('resnet18', 'json');
  return cases;
}

function wrkRun(opts: Options, url: string, script: string, connections: number): WrkRun {
  return { url, script, connections, threads: Math.min(opts.wrkThreads, connections), durationSec: opts.durationSec };
}

function checkRun(r: WrkResult): string | undefined {
  if (r.requests === 0) return 'no request completed (errors: none counted; raise --duration)';
  return r.errors > 0 ? `${r.errors} errors or non-2xx answers` : undefined;
}

// ---- 2b. the hand-off floor -----------------------------------------------------------------------

/** The models measured against the hand-off floor (issue #5's "90% of the floor" targets). */
const HANDOFF_MODELS = ['add', 'mlp'] as const;

// ---- 3. tsserve ----------------------------------------------------------------------------------

/** The archives: mlp twice, batching off (default batchSize 1) and on (mlp_batched). */
async function buildStore(store: string, dir: string, models: Record<ModelName, BenchModel>): Promise<void> {
  const batched = path.join(dir, 'mlp_batched.yaml');
  writeFileSync(batched, 'batchSize: 8\nmaxBatchDelay: 5\n');
  for (const [name, model, configFile] of [
    ['add', models.add, undefined],
    ['mlp', models.mlp, undefined],
    ['mlp_batched', models.mlp, batched],
    ['resnet18', models.resnet18, undefined],
  ] as const) {
    await writeArchive({
      modelName: name,
      version: '1.0',
      serializedFile: model.file,
      exportPath: store,
      force: true,
      ...(configFile !== undefined ? { configFile } : {}),
    });
  }
}

async function verify(server: Tsserve, name: string, model: BenchModel, c: Case): Promise<string | undefined> {
  return verifyAt(server.inferenceUrl, server.inferenceKey, name, model, c);
}

/** Posts the case's body to `<url>/predictions/<name>` and checks the answer against the reference. */
async function verifyAt(url: string, key: string, name: string, model: BenchModel, c: Case): Promise<string | undefined> {
  const res = await fetch(`${url}/predictions/${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': c.contentType },
    body: readFileSync(c.bodyFile),
  });
  const text = await res.text();
  if (res.status !== 200) return `${name}: HTTP ${res.status} ${text.slice(0, 300)}`;
  try {
    return checkOutput(model, JSON.parse(text));
  } catch {
    return `${name}: answer is not JSON: ${text.slice(0, 200)}`;
  }
}

async function describeSettings(server: Tsserve, name: string): Promise<string> {
  try {
    const res = await fetch(`${server.managementUrl}/models/${name}`, { headers: { authorization: `Bearer ${server.managementKey}` } });
    const [d] = (await res.json()) as { workers: unknown[]; batchSize: number; maxBatchDelay: number }[];
    return `${d!.workers.length} workers, batch ${d!.batchSize}${d!.batchSize > 1 ? ` / ${d!.maxBatchDelay} ms` : ''}`;
  } catch {
    return '?';
  }
}

// ---- report --------------------------------------------------------------------------------------

const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pct = (n: number | undefined) => (n === undefined ? '–' : `${n.toFixed(0)}%`);

function table(): string {
  const head = '| Section | Run | Command | Settings | req/s (samples/s) | p50 ms | p99 ms | % of floor | % of in-process | Note |';
  const sep = '|---|---|---|---|---:|---:|---:|---:|---:|---|';
  const lines = rows.map(
    (r) =>
      `| ${r.section} | ${r.name} | \`${r.command}\` | ${r.settings} | ${fmt(r.perSec)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${pct(r.pctFloor)} | ${pct(r.pctInProcess)} | ${r.note ?? ''} |`,
  );
  return [head, sep, ...lines].join('\n');
}

function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return ((r.stdout ?? '') + (r.stderr ?? '')).split('\n')[0]!.trim();
}

// ---- main ----------------------------------------------------------------------------------------

type Sample = { perSec: number; p50Ms?: number; p99Ms?: number; problem?: string };

/** A measurement repeated once per round; its row shows the median round. */
type Task = {
  key: string;
  row: Pick<Row, 'section' | 'name' | 'command' | 'settings'> & { note?: string };
  run: () => Promise<Sample>;
  /** Keys of the tasks this one is reported against (% of floor, % of in-process, batching off). */
  floorKey?: string;
  ortKey?: string;
  batchingOffKey?: string;
  /** Key of the hand-off floor run of the same case (tsserve's ratio to it goes in the note). */
  handoffKey?: string;
  /** Judge the /ping latency target on this task's worst round. */
  pingTarget?: boolean;
};

const fromWrk = (r: WrkResult): Sample => ({ perSec: r.reqPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, ...(checkRun(r) ? { problem: checkRun(r)! } : {}) });

/** The round with the median rate (the lower middle one for an even count). */
function median(samples: Sample[]): Sample {
  const sorted = [...samples].sort((a, b) => a.perSec - b.perSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const root = repoRoot();
  if (!wrkAvailable()) {
    process.stderr.write("wrk not found. The benchmark drives load with Debian's wrk:\n  sudo apt-get install -y wrk\n");
    return 2;
  }
  const modelsDir = process.env.TSSERVE_MODELS_DIR ?? path.resolve(root, '../shared/models');
  const models = loadModels(modelsDir);
  const cpus = os.availableParallelism();
  const layouts = Object.fromEntries(
    (Object.keys(models) as ModelName[]).map((n) => [n, defaultWorkerLayout({ cpuCount: cpus, modelBytes: models[n].bytes })]),
  ) as Record<ModelName, Layout>;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsserve-bench-'));
  const started = new Date();
  log(`work dir ${tmp}; ${opts.rounds} round(s) of ${opts.durationSec} s runs`);

  const stops: (() => Promise<void>)[] = [];
  try {
    const cases = writeBodies(tmp, models, opts.resnetJson);
    const tasks: Task[] = [];

    // 1. in-process ONNX Runtime
    for (const name of ['add', 'mlp', 'resnet18'] as const) {
      const layout = layouts[name];
      tasks.push({
        key: `ort/${name}`,
        row: {
          section: 'in-process',
          name: `${name} batch 1`,
          command: `session.run loop (bench/ort-loop.ts)`,
          settings: `${layout.workers} session(s) x ${layout.intraOpNumThreads} intra-op thread(s)`,
          note: 'answer matches reference',
        },
        run: async () => {
          log(`in-process ${name} (${layout.workers} x ${layout.intraOpNumThreads} threads)`);
          const r = await inProcess(models[name], layout, opts.durationSec);
          return { perSec: r.samplesPerSec, ...(r.error !== undefined ? { problem: r.error } : {}) };
        },
      });
    }

    // 2. the HTTP floor and 3. tsserve, both started now and measured in turn, case by case.
    const floor = await startFloor(path.join(HERE, 'floor-server.js'));
    stops.push(() => floor.stop());
    // 2b. the hand-off floor: one process per model, with tsserve's default layout and a key.
    const handoffKey = randomBytes(24).toString('base64url');
    const handoffs = new Map<ModelName, { server: Floor; problem: string | undefined }>();
    for (const name of HANDOFF_MODELS) {
      const layout = layouts[name];
      log(`starting hand-off floor for ${name}`);
      const server = await startFloor(path.join(HERE, 'handoff-server.js'), {
        args: [models[name].file, String(layout.workers), String(layout.intraOpNumThreads)],
        env: { HANDOFF_KEY: handoffKey },
        timeoutMs: 60_000,
      });
      stops.push(() => server.stop());
      handoffs.set(name, { server, problem: undefined });
    }
    let server: Tsserve | undefined;
    if (!existsSync(path.join(root, 'bin', 'tsserve.js'))) {
      log('bin/tsserve.js is missing: tsserve runs skipped');
      rows.push({ section: 'tsserve', name: 'all', command: 'node bin/tsserve.js', settings: '', note: 'skipped: bin/tsserve.js missing' });
    } else {
      const store = path.join(tmp, 'model_store');
      mkdirSync(store, { recursive: true });
      await buildStore(store, tmp, models);
      log('starting tsserve');
      server = await startTsserve({
        repoRoot: root,
        workDir: tmp,
        modelStore: store,
        models: ['add=add.mar', 'mlp=mlp.mar', 'mlp_batched=mlp_batched.mar', 'resnet18=resnet18.mar'],
        readyModels: ['add', 'mlp', 'mlp_batched', 'resnet18'],
      });
      const s = server;
      stops.push(() => s.stop());
    }
    const serverCommand = server?.command ?? '';
    const auth: Record<string, string> = server !== undefined ? { Authorization: `Bearer ${server.inferenceKey}` } : {};
    const settings: Record<string, string> = {};
    const verified = new Map<string, string | undefined>();
    if (server !== undefined) {
      for (const n of ['add', 'mlp', 'mlp_batched', 'resnet18']) settings[n] = await describeSettings(server, n);
      for (const c of cases) verified.set(c.id, await verify(server, c.model, models[c.model], c));
      verified.set('mlp_batched', await verify(server, 'mlp_batched', models.mlp, cases.find((c) => c.id === 'mlp-json')!));
      for (const [k, v] of verified) log(`verify ${k}: ${v ?? 'ok'}`);
    }
    for (const c of cases) {
      const h = handoffs.get(c.model);
      if (h === undefined || c.contentType !== 'application/json') continue;
      h.problem = await verifyAt(`http://127.0.0.1:${h.server.port}`, handoffKey, c.model, models[c.model], c);
      log(`verify hand-off ${c.id}: ${h.problem ?? 'ok'}`);
    }
    const layoutText = (m: ModelName) => `${layouts[m].workers} x ${layouts[m].intraOpNumThreads} ORT threads`;

    const tsserveTask = (c: Case, name: string, conns: number): Task | undefined => {
      if (server === undefined) return undefined;
      const label = name === c.model ? c.label : `${c.label} → ${name}`;
      const problem = verified.get(name === 'mlp_batched' ? 'mlp_batched' : c.id);
      const script = writeScript(tmp, `ts-${name}-${c.id}`, { method: 'POST', headers: { ...auth, 'Content-Type': c.contentType }, bodyFile: c.bodyFile });
      const run = wrkRun(opts, `${server.inferenceUrl}/predictions/${name}`, script, conns);
      return {
        key: `ts/${name}/${c.id}/${conns}`,
        floorKey: `floor/${c.id}/${conns}`,
        ...(handoffs.has(c.model) && c.contentType === 'application/json' ? { handoffKey: `handoff/${c.id}/${conns}` } : {}),
        ortKey: `ort/${c.model}`,
        ...(name === 'mlp_batched' ? { batchingOffKey: `ts/mlp/${c.id}/${conns}` } : {}),
        row: { section: 'tsserve', name: `${label}, ${conns} conns`, command: describeRun(run, `/predictions/${name}`), settings: `${settings[name]}, ${layoutText(c.model)}` },
        run: async () => {
          if (problem !== undefined) return { perSec: 0, problem: `not measured: ${problem}` };
          log(`tsserve ${name} ${c.id} c${conns}`);
          return fromWrk(await runWrk(run));
        },
      };
    };

    for (const c of cases) {
      const script = writeScript(tmp, `floor-${c.id}`, { method: 'POST', headers: { 'Content-Type': c.contentType }, bodyFile: c.bodyFile });
      for (const conns of opts.connections) {
        const run = wrkRun(opts, `http://127.0.0.1:${floor.port}/predictions/${c.model}`, script, conns);
        tasks.push({
          key: `floor/${c.id}/${conns}`,
          row: {
            section: 'floor',
            name: `${c.label}, ${conns} conns`,
            command: describeRun(run, `/predictions/${c.model}`),
            settings: c.contentType === 'application/json' ? 'Fastify, JSON.parse, constant answer' : 'Fastify, raw body, constant answer',
          },
          run: async () => {
            log(`floor ${c.id} c${conns}`);
            return fromWrk(await runWrk(run));
          },
        });
        const h = handoffs.get(c.model);
        if (h !== undefined && c.contentType === 'application/json') {
          const hScript = writeScript(tmp, `handoff-${c.id}`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${handoffKey}`, 'Content-Type': c.contentType },
            bodyFile: c.bodyFile,
          });
          const hRun = wrkRun(opts, `http://127.0.0.1:${h.server.port}/predictions/${c.model}`, hScript, conns);
          tasks.push({
            key: `handoff/${c.id}/${conns}`,
            floorKey: `floor/${c.id}/${conns}`,
            ortKey: `ort/${c.model}`,
            row: {
              section: 'hand-off floor',
              name: `${c.label}, ${conns} conns`,
              command: describeRun(hRun, `/predictions/${c.model}`),
              settings: `bench/handoff-server.ts: bearer check, raw body to ${layoutText(c.model)}, JSON decoded + one run per message in the worker`,
            },
            run: async () => {
              if (h.problem !== undefined) return { perSec: 0, problem: `not measured: ${h.problem}` };
              log(`hand-off floor ${c.id} c${conns}`);
              return fromWrk(await runWrk(hRun));
            },
          });
        }
        const ts = tsserveTask(c, c.model, conns);
        if (ts !== undefined) tasks.push(ts);
      }
    }

    // GET /ping while resnet18 is under load at 16 connections.
    const resnet = cases.find((c) => c.id === 'resnet18-octet')!;
    if (server !== undefined) {
      const pingScript = writeScript(tmp, 'ts-ping', { method: 'GET', headers: auth });
      const loadScript = writeScript(tmp, 'ts-resnet18-load', { method: 'POST', headers: { ...auth, 'Content-Type': resnet.contentType }, bodyFile: resnet.bodyFile });
      const pingRun = wrkRun(opts, `${server.inferenceUrl}/ping`, pingScript, 1);
      const loadRun = wrkRun(opts, `${server.inferenceUrl}/predictions/resnet18`, loadScript, 16);
      tasks.push({
        key: 'ts/ping',
        pingTarget: true,
        row: { section: 'tsserve', name: 'GET /ping while resnet18 float32 runs at 16 conns', command: describeRun(pingRun, '/ping'), settings: 'concurrent with the resnet18 load' },
        run: async () => {
          const problem = verified.get(resnet.id);
          if (problem !== undefined) return { perSec: 0, problem: `not measured: ${problem}` };
          log('tsserve /ping under resnet18 load');
          const [ping] = await Promise.all([runWrk(pingRun), runWrk(loadRun)]);
          return fromWrk(ping);
        },
      });
    }

    // Batching on vs off for mlp at the highest connection count (off = the mlp task above).
    const mlp = cases.find((c) => c.id === 'mlp-json')!;
    const batchConns = Math.max(...opts.connections, 64);
    if (!opts.connections.includes(batchConns)) {
      const off = tsserveTask(mlp, 'mlp', batchConns);
      if (off !== undefined) tasks.push(off);
    }
    const on = tsserveTask(mlp, 'mlp_batched', batchConns);
    if (on !== undefined) tasks.push(on);

    // Rounds: every task once per round, so that both sides of each comparison see the same
    // machine state; each row shows its median round.
    const samples = new Map<string, Sample[]>();
    for (let round = 1; round <= opts.rounds; round++) {
      log(`round ${round} of ${opts.rounds}`);
      for (const t of tasks) {
        const list = samples.get(t.key) ?? [];
        list.push(await t.run());
        samples.set(t.key, list);
      }
    }
    const med = (key: string): Sample | undefined => {
      const list = samples.get(key);
      return list === undefined ? undefined : median(list);
    };
    for (const t of tasks) {
      const list = samples.get(t.key)!;
      const m = median(list);
      const problems = [...new Set(list.map((x) => x.problem).filter((x): x is string => x !== undefined))];
      const row: Row = { ...t.row, perSec: m.perSec };
      if (m.p50Ms !== undefined) row.p50Ms = m.p50Ms;
      if (m.p99Ms !== undefined) row.p99Ms = m.p99Ms;
      const notes = problems.length > 0 ? problems : t.row.note !== undefined ? [t.row.note] : [];
      if (t.row.section === 'in-process') row.pctInProcess = 100;
      if (t.row.section === 'floor') row.pctFloor = 100;
      const floorRate = t.floorKey !== undefined ? med(t.floorKey)?.perSec : undefined;
      const ort = t.ortKey !== undefined ? med(t.ortKey)?.perSec : undefined;
      if (floorRate) row.pctFloor = (100 * m.perSec) / floorRate;
      if (ort) row.pctInProcess = (100 * m.perSec) / ort;
      if (t.pingTarget) {
        const worst = Math.max(...list.map((x) => x.p99Ms ?? Infinity));
        notes.push(`target p99 < 20 ms: ${worst < 20 ? 'met' : 'NOT met'} (worst round ${fmt(worst, 2)} ms)`);
      }
      if (t.handoffKey !== undefined) {
        const handoff = med(t.handoffKey)?.perSec;
        if (handoff) notes.push(`tsserve = ${((100 * m.perSec) / handoff).toFixed(0)}% of hand-off floor`);
      }
      if (t.batchingOffKey !== undefined) {
        const off = med(t.batchingOffKey)?.perSec;
        if (off) notes.push(`batching on / off = ${(m.perSec / off).toFixed(2)}`);
      }
      if (list.length > 1) notes.push(`rounds: ${list.map((x) => fmt(x.perSec)).join(' / ')}`);
      if (notes.length > 0) row.note = notes.join('; ');
      rows.push(row);
    }

    const tableText = table();
    process.stdout.write(`\n${tableText}\n`);
    if (opts.write) {
      const out = opts.out ?? path.join(root, 'docs', 'benchmarks.md');
      writeFileSync(out, report(opts, tableText, serverCommand, started, cpus));
      log(`wrote ${path.relative(process.cwd(), out)}`);
    }
    const invalid = (r: Row) => r.note !== undefined && /not measured|errors or non-2xx|no request completed|skipped/.test(r.note);
    return rows.some(invalid) ? 1 : 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

function report(opts: Options, tableText: string, serverCommand: string, started: Date, cpus: number): string {
  const args = process.argv.slice(2).join(' ');
  const ortVersion = (() => {
    try {
      return versionOf(process.execPath, ['-e', "console.log(require('onnxruntime-node/package.json').version)"]);
    } catch {
      return '?';
    }
  })();
  return `# Benchmarks

Produced by \`npm run bench${args ? ` -- ${args}` : ''}\` (bench/run.ts) on ${started.toISOString()}; every figure
below comes from that one run (figures from different runs are not comparable on these machines).

- Machine: ${os.cpus()[0]?.model ?? '?'}, ${cpus} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}
- Node.js ${process.version}, onnxruntime-node ${ortVersion}, ${versionOf('wrk', ['--version'])}
- Load: wrk on the same machine over loopback (it competes with the server for the ${cpus} cores),
  ${opts.durationSec} s per run, ${opts.wrkThreads} wrk thread(s).
- Rounds: ${opts.rounds}. Every run is made once per round (a case's floor and hand-off floor runs
  right before its tsserve run), so both sides of a comparison see the same machine state; each row shows its
  median round (its p50/p99 too), the note lists every round's rate. The /ping target is judged on
  the worst round.
- tsserve: \`${serverCommand || 'not run'}\`, default configuration: token authorization on (the
  inference key is sent), Prometheus metrics on, \`batchSize\` 1 (the default) except \`mlp_batched\`
  (\`batchSize: 8\`, \`maxBatchDelay: 5\` in its model_config.yaml). With the built-in tensor handler,
  batchSize 1 still runs requests that reach a worker together as one ONNX Runtime batch, without
  waiting for company (docs/engine.md "Few wake-ups"); batchSize 8 adds the wait.
- Inputs: one canonical sample per request (x[i] = (i % 255) / 255 - 0.5, shared/models/README.md);
  each server answer was checked against models.json's reference before measuring.
- hand-off floor (add and mlp, JSON): bench/handoff-server.ts, the leanest correct model server
  that runs inference in worker threads, as any server with onnxruntime-node must (\`run()\` blocks
  its thread): bearer check, raw body handed to the workers in one message per worker and event-loop
  turn, decoded there (tsserve's number-array decoder, src/handlers/fast-json.ts) and run as one
  ONNX Runtime batch per message, nothing else (no logs, metrics or
  request records); same workers x threads as tsserve. It is the least such a server must do on
  this machine, so "tsserve = N% of hand-off floor" in the notes is tsserve's own overhead.
- % of floor: a server's req/s over the bare Fastify route's req/s for the same body and connections.
  % of in-process: tsserve req/s (one sample each) over ONNX Runtime samples/s in a loop with the
  same sessions x threads.

${tableText}

Targets (issue #5): add and mlp >= 90% of the floor; resnet18 with a binary body >= 90% of
in-process ONNX Runtime; GET /ping p99 < 20 ms while resnet18 is loaded at 16 connections;
batching on beats batching off for mlp at 64 connections. Where the time goes, what was tried
and what is left: docs/performance.md.

## Running it

\`\`\`bash
sudo apt-get install -y wrk      # Debian's wrk drives the load
npm run bench                    # builds, runs everything: 3 rounds of 5 s runs (about 7 minutes), rewrites this file
npm run bench -- --quick         # 1 round of 3 s runs
npm run bench -- --rounds 5 --duration 10 --connections 16,64 --wrk-threads 1 --resnet-json --no-write
\`\`\`

Run it on an otherwise idle machine: anything else running on the cores shows up in every figure.
The exit code is 1 when a run could not be measured (wrong answer, errors, nothing completed).
`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
