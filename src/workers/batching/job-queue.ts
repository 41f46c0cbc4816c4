/**
 * Bounded FIFO of jobs (spec §8.4: one per model version, capacity job_queue_size). A ring
 * buffer, so push and shift stay O(1) at any depth.
 */
export class JobQueue<T> {
  readonly capacity: number;
  private items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.items = new Array(Math.min(capacity, 1024));
  }

  get length(): number {
    return this.size;
  }

  get remaining(): number {
    return this.capacity - this.size;
  }

  /** Appends; false (and nothing queued) when full. */
  push(item: T): boolean {
    if (this.size >= this.capacity) return false;
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) % this.items.length] = item;
    this.size++;
    return true;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return item;
  }

  /** Removes and returns up to `n` items from the front. */
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.size > 0) out.push(this.shift()!);
    return out;
  }

  /** Puts items back at the front, keeping their order (jobs of a batch that never ran). */
  unshiftAll(items: readonly T[]): void {
    for (let i = items.length - 1; i >= 0; i--) {
      if (this.size === this.items.length) this.grow();
      this.head = (this.head - 1 + this.items.length) % this.items.length;
      this.items[this.head] = items[i];
      this.size++;
    }
  }

  /** Empties the queue, returning what it held. */
  drain(): T[] {
    return this.take(this.size);
  }

  private grow(): void {
    const next = new Array<T | undefined>(Math.max(4, this.items.length * 2));
    for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
