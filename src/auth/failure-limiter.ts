/**
 * Failed-authentication limiter, per client address (issue #3 "Beyond TorchServe").
 *
 * Fixed window per address, opened by its first failure:
 *
 *   failure 1 ........ failure N (N <= limit: normal 400/401) ... failure limit+1 -> 429
 *   |<------------------------- windowSec --------------------------->| counter forgotten
 *
 * While an address is over the limit, requests from it that do not carry valid credentials get
 * 429 with Retry-After = seconds until its window ends. Only failures are counted; the caller
 * checks a bearer key before asking (a valid key is always served).
 *
 * Memory is bounded: at most `maxAddresses` entries; when full, expired entries are swept and,
 * if still full, the oldest window is dropped. State is per instance (per server process), so
 * with several replicas the limit applies per replica.
 */

export type FailureLimiterOptions = {
  /** Failures allowed per address per window; 0 turns the limiter off. */
  limit: number;
  windowSec: number;
  /** Most addresses tracked at once (default 10 000). */
  maxAddresses?: number;
  /** Clock in epoch milliseconds (tests inject one). */
  now?: () => number;
};

type Entry = { count: number; windowEndMs: number };

export class FailureLimiter {
  readonly limit: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  /** Insertion order = window start order (an entry is re-inserted when its window restarts). */
  readonly #entries = new Map<string, Entry>();

  constructor(opts: FailureLimiterOptions) {
    if (!Number.isInteger(opts.limit) || opts.limit < 0) throw new RangeError(`limit must be an integer >= 0, got ${opts.limit}`);
    if (!(opts.windowSec > 0)) throw new RangeError(`windowSec must be > 0, got ${opts.windowSec}`);
    this.limit = opts.limit;
    this.#windowMs = opts.windowSec * 1000;
    this.#maxAddresses = Math.max(1, opts.maxAddresses ?? 10_000);
    this.#now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Number of addresses currently tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /** Seconds until `address` may fail again, or undefined when it is not over the limit. */
  blockedForSec(address: string): number | undefined {
    if (!this.enabled) return undefined;
    const e = this.#live(address);
    if (!e || e.count <= this.limit) return undefined;
    return this.#secondsLeft(e);
  }

  /**
   * Counts one failure from `address`. Returns the Retry-After seconds when this failure puts (or
   * keeps) the address over the limit, else undefined.
   */
  recordFailure(address: string): number | undefined {
    if (!this.enabled) return undefined;
    let e = this.#live(address);
    if (!e) {
      this.#makeRoom();
      e = { count: 0, windowEndMs: this.#now() + this.#windowMs };
      this.#entries.set(address, e);
    }
    e.count++;
    return e.count > this.limit ? this.#secondsLeft(e) : undefined;
  }

  /** Forgets every address. */
  close(): void {
    this.#entries.clear();
  }

  #live(address: string): Entry | undefined {
    const e = this.#entries.get(address);
    if (e && e.windowEndMs <= this.#now()) {
      this.#entries.delete(address);
      return undefined;
    }
    return e;
  }

  #secondsLeft(e: Entry): number {
    return Math.max(1, Math.ceil((e.windowEndMs - this.#now()) / 1000));
  }

  #makeRoom(): void {
    // Every window has the same length and an entry is (re)inserted when its window opens, so
    // insertion order is window-end order: expired entries sit at the front. Amortised O(1).
    const now = this.#now();
    for (const [address, e] of this.#entries) {
      if (e.windowEndMs > now && this.#entries.size < this.#maxAddresses) break;
      this.#entries.delete(address);
    }
  }
}
