/**
 * Small HTTP client for the model-group e2e tests (groups-*.test.ts): callers as bearer keys or
 * HTTP Basic users, JSON in and out, and assertions on OpenSearch's error envelope.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { buildMar } from '../fixtures/archive-builder.js';
import { httpRequest, readKeyFile, type StartedServer, type Workspace } from '../helpers/tsserve.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
export type Json = any;
export type Res = { status: number; body: Json; text: string; headers: IncomingHttpHeaders };
export type Call = (method: string, url: string, body?: unknown) => Promise<Res>;

export const PASSWORDS: Readonly<Record<string, string>> = {
  alice: 'alice-password',
  bob: 'bob-password',
  carol: 'carol-password',
  dave: 'dave-password',
  eve: 'eve-password',
  rita: 'rita-password',
};

export const basic = (user: string, password = PASSWORDS[user] ?? ''): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A caller on `base` with this Authorization header (none: no header). JSON bodies; raw strings as is. */
export function caller(base: string, authorization: string | undefined): Call {
  return async (method, url, body) => {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      // node:http sends a GET body without a length unless told (curl -XGET -d sets one).
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const res = await httpRequest(`${base}${url}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}), timeoutMs: 20_000 });
    let parsed: Json;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text: res.text, headers: res.headers };
  };
}

/** Management and inference callers of one server: the admin (keys) and any internal user. */
export type Clients = {
  admin: Call;
  adminInference: Call;
  as(user: string, password?: string): Call;
  inferenceAs(user: string, password?: string): Call;
  anonymous: Call;
};

export function clients(ws: Workspace, server: StartedServer): Clients {
  const keys = readKeyFile(ws);
  const { management, inference } = server.addresses;
  return {
    admin: caller(management, `Bearer ${keys.management.key}`),
    adminInference: caller(inference, `Bearer ${keys.inference.key}`),
    as: (user, password) => caller(management, basic(user, password)),
    inferenceAs: (user, password) => caller(inference, basic(user, password)),
    anonymous: caller(management, undefined),
  };
}

/** Asserts OpenSearch's error envelope (model-groups.md §12) with this status, type and reason. */
export function assertOpenSearchError(res: Res, status: number, type: string, reason: string | RegExp, what = ''): void {
  assert.equal(res.status, status, `${what} status: ${res.text}`);
  const actual = res.body?.error?.reason as string;
  if (typeof reason === 'string') assert.equal(actual, reason, what);
  else assert.match(actual, reason, what);
  assert.deepEqual(res.body, { error: { root_cause: [{ type, reason: actual }], type, reason: actual }, status }, what);
}

/** 400 illegal_argument_exception, the type of every access-control validation message. */
export function assertIllegal(res: Res, reason: string, what = ''): void {
  assertOpenSearchError(res, 400, 'illegal_argument_exception', reason, what);
}

export function assertStatus(res: Res, status: number, what = ''): void {
  assert.equal(res.status, status, `${what}: ${res.text}`);
}

/** The add model (`output = input + 1`) as `<file>` in the store, with this manifest version. */
export async function writeAddArchive(ws: Workspace, file: string, modelVersion = '1.0'): Promise<void> {
  fs.writeFileSync(path.join(ws.modelStore, file), await buildMar({ modelVersion }));
}

/** Predicts `[[1, 2, 3, 4]]` and returns the flattened answer (add: `[2, 3, 4, 5]`). */
export async function predictAdd(call: Call, url: string): Promise<Res & { values?: number[] }> {
  const res = await call('POST', url, { input: [[1, 2, 3, 4]] });
  return res.status === 200 ? { ...res, values: (res.body as unknown[]).flat(3) as number[] } : res;
}

export const ACCESS_SETTING = 'plugins.ml_commons.model_access_control_enabled';

/** Admin: creates the users (password from PASSWORDS) and maps roles to them. */
export async function createUsers(admin: Call, users: Record<string, string[]>, mappings: Record<string, string[]>): Promise<void> {
  for (const [name, backendRoles] of Object.entries(users)) {
    const res = await admin('PUT', `/_plugins/_security/api/internalusers/${name}`, { password: PASSWORDS[name], backend_roles: backendRoles });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body, { status: 'CREATED', message: `'${name}' created.` });
  }
  for (const [role, names] of Object.entries(mappings)) {
    const res = await admin('PUT', `/_plugins/_security/api/rolesmapping/${role}`, { users: names, backend_roles: [], hosts: [] });
    assert.equal(res.status, 201, res.text);
  }
}

/** Registers a model group and returns its id (200 `{"model_group_id", "status": "CREATED"}`). */
export async function registerGroup(call: Call, body: Record<string, unknown>): Promise<string> {
  const res = await call('POST', '/_plugins/_ml/model_groups/_register', body);
  assert.equal(res.status, 200, `register ${JSON.stringify(body)}: ${res.text}`);
  assert.equal(res.body.status, 'CREATED');
  assert.match(res.body.model_group_id, /^[A-Za-z0-9][A-Za-z0-9_-]{19}$/);
  assert.deepEqual(Object.keys(res.body), ['model_group_id', 'status']);
  return res.body.model_group_id as string;
}

/** Ids of the hits of a search, sorted. */
export async function searchIds(call: Call, query: unknown): Promise<string[]> {
  const res = await call('POST', '/_plugins/_ml/model_groups/_search', query === undefined ? {} : { query });
  assert.equal(res.status, 200, res.text);
  return (res.body.hits.hits as { _id: string }[]).map((h) => h._id).sort();
}

export const sorted = (ids: string[]): string[] => [...ids].sort();
