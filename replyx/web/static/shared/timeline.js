// A dialog's messages in seq order, with the gaps a client must fetch; no DOM, no I/O.

/**
 * Messages of one dialog. seq is per dialog, starts at 1 and has no gaps, so a
 * message is released only once the one before it is; a duplicate is dropped,
 * and a message that arrives early waits while the gap before it is fetched.
 */
export class Timeline {
  constructor() {
    this.reset();
  }

  reset() {
    this.lastSeq = 0;
    this.messages = new Map();
    this.early = new Map();
  }

  /** True when the message of this seq has been released. */
  has(seq) {
    return this.messages.has(seq);
  }

  /** Take one message; returns the messages now released, in order, and the gap to fetch, if any. */
  receive(message) {
    const seq = message && message.seq;
    if (!Number.isInteger(seq) || seq <= this.lastSeq || this.early.has(seq)) return { ready: [], gap: this.gap() };
    if (seq !== this.lastSeq + 1) {
      this.early.set(seq, message);
      return { ready: [], gap: this.gap() };
    }
    const ready = [];
    let next = message;
    while (next) {
      this.messages.set(next.seq, next);
      this.early.delete(next.seq);
      this.lastSeq = next.seq;
      ready.push(next);
      next = this.early.get(this.lastSeq + 1);
    }
    return { ready, gap: this.gap() };
  }

  /** The missing range {since, until} before the earliest early message, or null. */
  gap() {
    if (this.early.size === 0) return null;
    const first = Math.min(...this.early.keys());
    return { since: this.lastSeq, until: first - 1 };
  }
}
