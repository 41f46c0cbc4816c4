/**
 * What a manifest `handler` names (spec §9.1, §9.2): one of our built-in handlers, a JavaScript
 * module in the archive, or something Python that cannot run here.
 */
import { InvalidModelError } from '../errors.js';
import type { BuiltinHandlerName, HandlerRef } from './types.js';

export const BUILTIN_HANDLERS: readonly BuiltinHandlerName[] = ['tensor', 'image_classifier'];

export const DEFAULT_HANDLER: BuiltinHandlerName = 'tensor';

/** TorchServe built-in names served by one of ours. */
const TORCHSERVE_ALIASES: Record<string, BuiltinHandlerName> = {
  base_handler: 'tensor',
  image_classifier: 'image_classifier',
};

const JS_EXTENSIONS = ['.js', '.mjs'];

/**
 * Pure classification, never throws. Undefined or empty means the default (tensor) handler. A
 * `module:function` suffix (TorchServe's entry-point syntax) is ignored for classification.
 */
export function classifyHandler(handler?: string): HandlerRef {
  const value = handler?.trim() ?? '';
  if (value === '') return { kind: 'builtin', name: DEFAULT_HANDLER };
  if ((BUILTIN_HANDLERS as readonly string[]).includes(value)) {
    return { kind: 'builtin', name: value as BuiltinHandlerName };
  }
  const alias = TORCHSERVE_ALIASES[value];
  if (alias !== undefined) return { kind: 'builtin', name: alias };
  const file = stripEntryPoint(value);
  if (JS_EXTENSIONS.some((ext) => file.toLowerCase().endsWith(ext))) return { kind: 'js', file };
  // A .py file, a TorchServe built-in we do not provide (text_classifier, object_detector, ...), or
  // a module path TorchServe would complete with ".py".
  return { kind: 'python', name: value };
}

/** `handler.js:handle` → `handler.js`; leaves drive letters and plain names alone. */
function stripEntryPoint(value: string): string {
  const colon = value.lastIndexOf(':');
  if (colon <= 1) return value;
  return value.slice(0, colon);
}

export function pythonHandlerError(name: string): InvalidModelError {
  return new InvalidModelError(
    `Handler "${name}" is a Python handler; tsserve runs JavaScript handlers (.js/.mjs) and the built-in handlers tensor and image_classifier.`,
  );
}
