/**
 * Group commit: items wait while a batch is being written and go together in the next one. With
 * nothing in flight a lone item is written at once, so a quiet fleet sees no added latency and a
 * busy one gets large batches (up to maxBatch) without a timer. A failed write is retried with
 * backoff and its items are not released, so the broker's redelivery and backpressure take over
 * rather than memory growing without bound: `pending` is capped by what the broker lets in flight.
 */
export interface BatcherOptions<T> {
  maxBatch: number;
  write(items: T[]): Promise<void>;
  /** Called when a write fails; the batch is retried after `retryDelayMs(attempt)`. */
  onError?(error: unknown, attempt: number): void;
  retryDelayMs?(attempt: number): number;
  sleep?(ms: number): Promise<void>;
}

export class Batcher<T> {
  private pending: T[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: BatcherOptions<T>) {}

  get depth(): number {
    return this.pending.length;
  }

  add(item: T): void {
    this.pending.push(item);
    this.running ??= this.run();
  }

  /** Resolves once everything added so far has been written. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops retrying a failing write (shutdown); items not written are left to redelivery. */
  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    const { maxBatch, write, onError } = this.options;
    const delay = this.options.retryDelayMs ?? ((n: number) => Math.min(5000, 100 * 2 ** n));
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, maxBatch);
        for (let attempt = 0; ; attempt++) {
          try {
            await write(batch);
            break;
          } catch (e) {
            onError?.(e, attempt);
            if (this.stopped) return;
            await sleep(delay(attempt));
          }
        }
      }
    } finally {
      this.running = null;
    }
  }
}
