/** Built-in handler names (TorchServe's `base_handler` maps to `tensor`), importable without the handlers. */
export const BUILTIN_HANDLER_NAMES: readonly string[] = ['tensor', 'base_handler', 'image_classifier'];

export function isBuiltinHandler(name: string): boolean {
  const n = name.trim();
  return n === '' || BUILTIN_HANDLER_NAMES.includes(n);
}
