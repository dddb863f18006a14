import { partitionKey, splitKey } from '../transport/partition-key.js';

/**
 * Which offsets may be committed when requests of one partition finish out of order: the commit
 * point is the lowest offset still in flight, or one past the highest dispatched when none is.
 * Offsets are committed only after the reply to every earlier request was published.
 */
export class OffsetTracker {
  readonly #partitions = new Map<string, { inFlight: Set<bigint>; next: bigint; committed: bigint }>();

  #entry(topic: string, partition: number) {
    const key = partitionKey(topic, partition);
    let entry = this.#partitions.get(key);
    if (entry === undefined) {
      entry = { inFlight: new Set(), next: -1n, committed: -1n };
      this.#partitions.set(key, entry);
    }
    return entry;
  }

  start(topic: string, partition: number, offset: string): void {
    const entry = this.#entry(topic, partition);
    const o = BigInt(offset);
    entry.inFlight.add(o);
    if (o + 1n > entry.next) entry.next = o + 1n;
  }

  done(topic: string, partition: number, offset: string): void {
    this.#entry(topic, partition).inFlight.delete(BigInt(offset));
  }

  get inFlight(): number {
    let n = 0;
    for (const entry of this.#partitions.values()) n += entry.inFlight.size;
    return n;
  }

  /** Offsets that moved since the last call, to commit now. */
  takeCommittable(): { topic: string; partition: number; offset: string }[] {
    const out: { topic: string; partition: number; offset: string }[] = [];
    for (const [key, entry] of this.#partitions) {
      let point = entry.next;
      for (const o of entry.inFlight) if (o < point) point = o;
      if (point > entry.committed && point >= 0n) {
        entry.committed = point;
        out.push({ ...splitKey(key), offset: point.toString() });
      }
    }
    return out;
  }

  /** The next offset to hand out, per partition this member has taken requests from (and still owns). */
  positions(): { topic: string; partition: number; next: bigint }[] {
    return [...this.#partitions]
      .filter(([, e]) => e.next >= 0n)
      .map(([key, e]) => ({ ...splitKey(key), next: e.next }));
  }

  /** Forget partitions that were revoked: another member owns them now. */
  forget(partitions: readonly { topic: string; partition: number }[]): void {
    for (const p of partitions) this.#partitions.delete(partitionKey(p.topic, p.partition));
  }
}
