/** Locating the repository and the shared models from a compiled test (dist/test/...). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
}

export const REPO_ROOT = findRepoRoot();
export const SHARED_MODELS = path.resolve(REPO_ROOT, '../shared/models');
export const sharedModel = (file: string): string => path.join(SHARED_MODELS, file);
