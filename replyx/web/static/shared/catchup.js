// Fetches the ranges a Timeline is missing over REST, one request at a time.

/**
 * fetchRange(since, until): a promise of the stored messages with since < seq <= until
 * (a server may return only the first page of them); deliver(messages): hands them to
 * the Timeline and shows what it releases; onStuck(): a fetch failed or brought nothing
 * new while later messages wait, so the caller reconnects and the replay fills the gap.
 */
export class CatchUp {
  constructor({ timeline, fetchRange, deliver, onStuck }) {
    this.timeline = timeline;
    this.fetchRange = fetchRange;
    this.deliver = deliver;
    this.onStuck = onStuck;
    this.running = false;
    this.wanted = 0;
    this.generation = 0;
  }

  /** Fetch up to range.until (by default the timeline's gap), and every gap found on the way. */
  fill(range = this.timeline.gap()) {
    if (range && range.until > this.wanted) this.wanted = range.until;
    if (!this.running) this.run();
  }

  /** Forget a fetch in flight (the dialog was left or started over). */
  cancel() {
    this.generation += 1;
    this.running = false;
    this.wanted = 0;
  }

  async run() {
    this.running = true;
    const generation = this.generation;
    try {
      for (let target = this.next(); target; target = this.next()) {
        const before = this.timeline.lastSeq;
        let messages = [];
        try {
          messages = await this.fetchRange(target.since, target.until);
        } catch {
          // Counts as no progress, below.
        }
        if (generation !== this.generation) return;
        if (messages.length) this.deliver(messages);
        if (this.timeline.lastSeq === before) {
          // Only messages waiting on a gap justify a reconnect, never a range `ready` announced.
          if (this.timeline.gap()) this.onStuck();
          return;
        }
      }
    } finally {
      if (generation === this.generation) {
        this.running = false;
        this.wanted = 0;
      }
    }
  }

  /** The next range to fetch: up to the earliest early message, else up to the highest seq asked for. */
  next() {
    const gap = this.timeline.gap();
    if (gap) return gap;
    if (this.wanted > this.timeline.lastSeq) return { since: this.timeline.lastSeq, until: this.wanted };
    return null;
  }
}
