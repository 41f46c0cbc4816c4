/**
 * Shared by the inference e2e tests (issue #5, black box): archives built in the test around an
 * ONNX model (shared or generated), an authorised client for a running server, and small helpers
 * for concurrent requests and polling. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildZip, manifestJson } from '../fixtures/archive-builder.js';
import { httpRequest, readKeyFile, type HttpResponse, type StartedServer, type Workspace } from '../helpers/tsserve.js';
export { cleanupScope } from '../helpers/tsserve.js';

export type ArchiveSpec = {
  name: string;
  version?: string;
  /** ONNX bytes. */
  model: Buffer;
  modelFile?: string;
  /** Built-in handler name, or the file name of `handlerSource`. */
  handler?: string;
  handlerSource?: string;
  /** model_config.yaml text. */
  yaml?: string;
  /** More files at the archive root. */
  extra?: Record<string, Buffer | string>;
};

/** A .mar (zip) around the model, as `tsserve-archiver` lays it out. */
export async function buildArchive(spec: ArchiveSpec): Promise<Buffer> {
  const modelFile = spec.modelFile ?? `${spec.name}.onnx`;
  const entries: { name: string; data: Buffer | string }[] = [
    {
      name: 'MAR-INF/MANIFEST.json',
      data: manifestJson({ modelName: spec.name, modelVersion: spec.version ?? '1.0', serializedFile: modelFile, handler: spec.handler }),
    },
    { name: modelFile, data: spec.model },
  ];
  if (spec.handlerSource !== undefined) {
    if (spec.handler === undefined) throw new Error('handlerSource needs handler (its file name)');
    entries.push({ name: spec.handler, data: spec.handlerSource });
  }
  if (spec.yaml !== undefined) entries.push({ name: 'model_config.yaml', data: spec.yaml });
  for (const [name, data] of Object.entries(spec.extra ?? {})) entries.push({ name, data });
  return buildZip(entries);
}

/** Writes `<name>.mar` into the workspace's model store; returns the `name=file.mar` argument. */
export async function addToStore(ws: Workspace, spec: ArchiveSpec): Promise<string> {
  fs.writeFileSync(path.join(ws.modelStore, `${spec.name}.mar`), await buildArchive(spec));
  return `${spec.name}=${spec.name}.mar`;
}

/** models.json's canonical input: x[i] = (i % 255) / 255 - 0.5 (in float32). */
export function canonicalInput(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (i % 255) / 255 - 0.5;
  return x;
}

export type Client = {
  inference: string;
  management: string;
  metrics?: string;
  /** A request to the inference listener with the inference key. */
  infer(urlPath: string, opts?: { method?: string; body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number }): Promise<HttpResponse>;
  /** POST JSON (`body` is serialised unless it is a string) to the inference listener. */
  postJson(urlPath: string, body: unknown, headers?: Record<string, string>): Promise<HttpResponse>;
  /** A request to the management listener with the management key. */
  manage(urlPath: string, opts?: { method?: string; body?: string | Buffer; headers?: Record<string, string> }): Promise<HttpResponse>;
};

export function clientFor(ws: Workspace, server: Pick<StartedServer, 'addresses'>): Client {
  const keys = readKeyFile(ws);
  const inf = { authorization: `Bearer ${keys.inference.key}` };
  const mgmt = { authorization: `Bearer ${keys.management.key}` };
  const { inference, management, metrics } = server.addresses;
  const infer: Client['infer'] = (urlPath, opts = {}) =>
    httpRequest(`${inference}${urlPath}`, {
      method: opts.method ?? 'POST',
      headers: { ...inf, ...opts.headers },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      timeoutMs: opts.timeoutMs ?? 20_000,
    });
  return {
    inference,
    management,
    ...(metrics !== undefined ? { metrics } : {}),
    infer,
    postJson: (urlPath, body, headers = {}) =>
      infer(urlPath, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }),
    manage: (urlPath, opts = {}) =>
      httpRequest(`${management}${urlPath}`, {
        method: opts.method ?? 'GET',
        headers: { ...mgmt, ...opts.headers },
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        timeoutMs: 20_000,
      }),
  };
}

/** Asserts TorchServe's error body `{code, type, message}` and returns the message. */
export function assertTsError(res: HttpResponse, status: number, type: string, what: string): string {
  assert.equal(res.status, status, `${what}: ${res.status} ${res.text}`);
  const body = res.json<{ code: number; type: string; message: string }>();
  assert.deepEqual(Object.keys(body), ['code', 'type', 'message'], `${what}: ${res.text}`);
  assert.equal(body.code, status, what);
  assert.equal(body.type, type, `${what}: ${res.text}`);
  return body.message;
}

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The worker list of `GET /models/<name>` (describe). */
export async function describeWorkers(client: Client, name: string): Promise<{ id: string; startTime: string; status: string }[]> {
  const res = await client.manage(`/models/${name}`);
  assert.equal(res.status, 200, res.text);
  return res.json<{ workers: { id: string; startTime: string; status: string }[] }[]>()[0]!.workers;
}


/** Waits until every named model has a READY worker (`GET /v2/models/<m>/ready` is 200). */
export async function waitModelsReady(client: Client, names: readonly string[], timeoutMs = 30_000): Promise<void> {
  for (const name of names) {
    await eventually(`model ${name} ready`, async () => (await client.infer(`/v2/models/${name}/ready`, { method: 'GET' })).status === 200, timeoutMs);
  }
}
