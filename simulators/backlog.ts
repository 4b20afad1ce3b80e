/**
 * The box's store-and-forward buffer: reports made while it cannot publish (no coverage, broker
 * down) wait here and go out later as JSON arrays. Used by the machine model for simulated
 * coverage gaps and by the device for real disconnects, so both upload the same way.
 */
import { MAX_BACKLOG, type Telemetry } from '../shared/protocol.ts';

/** Comfortably under the platform's 64 KiB message limit. */
export const BACKLOG_MAX_BYTES = 48 * 1024;
export const DEFAULT_BACKLOG_CHUNK = 100;

export class Backlog {
  private reports: Telemetry[] = [];
  /** Oldest reports overwritten because the buffer was full, as a ring buffer in flash would. */
  dropped = 0;

  constructor(private readonly capacity = 20_000) {}

  get size(): number {
    return this.reports.length;
  }

  push(report: Telemetry): void {
    this.reports.push(report);
    if (this.reports.length > this.capacity) {
      this.reports.shift();
      this.dropped++;
    }
  }

  /**
   * Empties the buffer into upload messages. The firmware reads its ring from the write head
   * backwards, so the newest reports come first and every array is in reverse time order: the
   * platform must sort by device time, never trust arrival order.
   */
  drain(chunk = DEFAULT_BACKLOG_CHUNK, maxBytes = BACKLOG_MAX_BYTES): Telemetry[][] {
    const limit = Math.max(1, Math.min(chunk, MAX_BACKLOG));
    const newestFirst = this.reports.reverse();
    this.reports = [];
    const messages: Telemetry[][] = [];
    let current: Telemetry[] = [];
    let bytes = 2;
    for (const report of newestFirst) {
      const size = JSON.stringify(report).length + 1;
      if (current.length > 0 && (current.length >= limit || bytes + size > maxBytes)) {
        messages.push(current);
        current = [];
        bytes = 2;
      }
      current.push(report);
      bytes += size;
    }
    if (current.length > 0) messages.push(current);
    return messages;
  }
}
