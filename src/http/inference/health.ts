/**
 * Health rules shared by /ping, /v2/health/ready and the model-ready routes.
 */
import type { ModelEntry, ModelLookup } from '../../registry/types.js';

/**
 * TorchServe's /ping rule (spec §8.1): unhealthy iff some model's default version has fewer healthy
 * workers than minWorkers; no models → healthy.
 */
export function isServerHealthy(registry: ModelLookup): boolean {
  for (const name of registry.names()) {
    let entry: ModelEntry;
    try {
      entry = registry.get(name);
    } catch {
      continue; // unregistered between names() and get()
    }
    if (!entry.runtime.isHealthy()) return false;
  }
  return true;
}

/**
 * OIP / KServe model readiness (open-inference-protocol.md §2 "Clone"): at least one worker has
 * loaded the model and healthy workers >= minWorkers.
 */
export function isModelReady(entry: ModelEntry): boolean {
  if (!entry.runtime.isHealthy()) return false;
  return entry.runtime.workers().some((w) => w.state === 'READY' || w.state === 'BUSY');
}
