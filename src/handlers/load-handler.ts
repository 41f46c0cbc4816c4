/**
 * Resolves ModelSpec.handler to a handler, inside the worker thread: a built-in name, or an ES
 * module inside the model directory whose exports (named, or on the default export — an object
 * or a class) replace any subset of the base tensor handler's steps. `file.mjs:fn` names a
 * whole-pipeline entry function, as TorchServe's `module:function`.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ImageClassifierHandler } from './image-classifier.js';
import { TensorHandler } from './tensor-handler.js';
import type { Handler, HandlerContext, RequestRecord, ResolvedHandler, WorkerContext } from './types.js';

/** Built-in handlers, with TorchServe's names that map onto ours (names.ts lists the same keys). */
export const BUILTIN_HANDLERS: Readonly<Record<string, () => Handler>> = {
  tensor: () => new TensorHandler(),
  base_handler: () => new TensorHandler(),
  image_classifier: () => new ImageClassifierHandler(),
};

const STEPS = ['initialize', 'preprocess', 'inference', 'postprocess', 'explain', 'handle'] as const;
type Step = (typeof STEPS)[number];
type Fn = (...args: unknown[]) => unknown;

function bindAll(h: Handler): Partial<Record<Step, Fn>> {
  const out: Partial<Record<Step, Fn>> = {};
  for (const step of STEPS) {
    const fn = (h as Record<string, unknown>)[step];
    if (typeof fn === 'function') out[step] = (fn as Fn).bind(h);
  }
  return out;
}

function isClass(v: unknown): v is new () => Handler {
  return typeof v === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(v));
}

/** The steps a custom module provides: named exports win over the default export's. */
export function customSteps(mod: Record<string, unknown>, entry?: string): Partial<Record<Step, Fn>> {
  const steps: Partial<Record<Step, Fn>> = {};
  const def = mod.default;
  if (def !== undefined && def !== null) {
    const owner = isClass(def) ? new def() : typeof def === 'object' ? (def as Handler) : undefined;
    if (owner !== undefined) Object.assign(steps, bindAll(owner));
    else if (typeof def === 'function' && entry === undefined) steps.handle = def as Fn;
  }
  for (const step of STEPS) {
    const fn = mod[step];
    if (typeof fn === 'function') steps[step] = fn as Fn;
  }
  if (entry !== undefined) {
    const fn = mod[entry] ?? (def as Record<string, unknown> | undefined)?.[entry];
    if (typeof fn !== 'function') throw new Error(`handler module has no function "${entry}"`);
    steps.handle = fn as Fn;
  }
  return steps;
}

/** `handler.mjs:fn` → file and entry point (a drive letter's colon is not an entry point). */
export function splitEntry(handler: string): { file: string; entry?: string } {
  const colon = handler.lastIndexOf(':');
  if (colon <= 1 || /[\\/]/.test(handler.slice(colon + 1))) return { file: handler };
  return { file: handler.slice(0, colon), entry: handler.slice(colon + 1) };
}

/** The module's path, which must stay inside modelDir (after resolving symlinks). */
export function handlerPath(modelDir: string, file: string): string {
  const abs = path.resolve(modelDir, file);
  let real: string;
  let dir: string;
  try {
    real = realpathSync(abs);
    dir = realpathSync(modelDir);
  } catch {
    throw new Error(`handler file not found: ${file}`);
  }
  const rel = path.relative(dir, real);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`handler file ${file} is outside the model directory`);
  return real;
}

const asPromise = async (v: unknown): Promise<unknown> => v;

export async function loadHandler(spec: { handler: string; modelDir: string }): Promise<ResolvedHandler> {
  const name = spec.handler.trim() === '' ? 'tensor' : spec.handler.trim();
  const builtin = BUILTIN_HANDLERS[name];
  const base: Handler = builtin !== undefined ? builtin() : new TensorHandler();
  const b = bindAll(base);
  let custom: Partial<Record<Step, Fn>> = {};
  if (builtin === undefined) {
    const { file, entry } = splitEntry(name);
    if (!/\.(m?js|cjs)$/i.test(file)) {
      throw new Error(`unknown handler "${name}": use tensor, image_classifier, or a .js/.mjs module in the archive`);
    }
    const mod = (await import(pathToFileURL(handlerPath(spec.modelDir, file)).href)) as Record<string, unknown>;
    custom = customSteps(mod, entry);
  }
  const pick = (step: 'preprocess' | 'inference' | 'postprocess'): ((x: unknown, c: HandlerContext) => Promise<unknown>) => {
    const fn = custom[step] ?? b[step]!;
    return (x, c) => asPromise(fn(x, c));
  };
  const resolved: ResolvedHandler = {
    // Shown to clients in error messages: never the server's extraction path.
    name: builtin !== undefined ? name : displayName(spec.modelDir, name),
    builtin: builtin !== undefined,
    rawBodies: custom.preprocess === undefined && custom.handle === undefined,
    base,
    async initialize(context: WorkerContext) {
      await b.initialize?.(context);
      if (custom.initialize !== undefined) await custom.initialize(context);
    },
    preprocess: pick('preprocess') as ResolvedHandler['preprocess'],
    inference: pick('inference'),
    postprocess: pick('postprocess'),
  };
  const explain = custom.explain;
  if (explain !== undefined) resolved.explain = (x, c) => asPromise(explain(x, c));
  const handle = custom.handle;
  if (handle !== undefined) resolved.handle = (r: RequestRecord[], c) => asPromise(handle(r, c));
  return resolved;
}

/** A custom handler as the archive names it (`handler.mjs[:fn]`), relative to the model directory. */
function displayName(modelDir: string, handler: string): string {
  return path.isAbsolute(handler) ? path.relative(modelDir, handler) : handler;
}
