/**
 * Runs Debian's `wrk` (apt-get install -y wrk) with a generated Lua script and reads its result
 * from a JSON line the script's done() prints.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export type WrkResult = {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers plus socket errors: a run with errors is not a valid measurement. */
  errors: number;
};

export type WrkRun = {
  url: string;
  connections: number;
  threads: number;
  durationSec: number;
  /** Lua script path. */
  script: string;
  timeoutSec?: number;
};

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

const luaString = (s: string): string => JSON.stringify(s);

/**
 * A wrk script: method, headers and (optionally) a body read from a file, plus a done() that prints
 * `WRK_JSON {...}`.
 */
export function writeScript(
  dir: string,
  name: string,
  opts: { method: 'GET' | 'POST'; headers: Record<string, string>; bodyFile?: string },
): string {
  const lines = [`wrk.method = ${luaString(opts.method)}`];
  for (const [k, v] of Object.entries(opts.headers)) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  if (opts.bodyFile !== undefined) {
    lines.push(`local f = assert(io.open(${luaString(opts.bodyFile)}, "rb"))`, 'wrk.body = f:read("*a")', 'f:close()');
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n\',',
    '    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),',
    '    e.connect + e.read + e.write + e.status + e.timeout))',
    'end',
  );
  const file = path.join(dir, `${name}.lua`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The command line, with the script's base name, for the report. */
export function describeRun(run: WrkRun, urlPath: string): string {
  return `wrk -t${run.threads} -c${run.connections} -d${run.durationSec}s -s ${path.basename(run.script)} ${urlPath}`;
}

export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.durationSec}s`,
    `--timeout`,
    `${run.timeoutSec ?? 10}s`,
    '-s',
    run.script,
    run.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), (run.durationSec + 30) * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (line === undefined) {
        reject(new Error(`wrk exited with ${code}: ${err.trim() || out.trim()}`));
        return;
      }
      const j = JSON.parse(line.slice('WRK_JSON '.length)) as { requests: number; duration_us: number; p50_us: number; p99_us: number; errors: number };
      resolve({
        requests: j.requests,
        reqPerSec: j.requests / (j.duration_us / 1e6),
        p50Ms: j.p50_us / 1000,
        p99Ms: j.p99_us / 1000,
        errors: j.errors,
      });
    });
  });
}
