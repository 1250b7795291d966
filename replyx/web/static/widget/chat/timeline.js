// What the chat holds, without any DOM: messages in seq order and the visitor's unsent messages.

/**
 * Messages of one dialog. seq is per dialog, starts at 1 and has no gaps, so a
 * message is shown only once the one before it is; a duplicate is dropped, and
 * a message that arrives early waits while the gap is fetched.
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

  /** Take one message; returns the messages now ready to show, in order, and the gap to fetch, if any. */
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

/** A random id for a message the visitor sends; the server stores it once however often it is sent. */
export function newClientId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The visitor's messages not yet echoed by the server, in the order they were written.
 * state: "queued" (to send), "sent" (awaiting the echo) or "failed" (refused; the visitor may retry).
 */
export class Outbox {
  constructor() {
    this.items = new Map();
  }

  get size() {
    return this.items.size;
  }

  add(text) {
    const item = { clientId: newClientId(), text, state: "queued", sentAt: 0 };
    this.items.set(item.clientId, item);
    return item;
  }

  has(clientId) {
    return this.items.has(clientId);
  }

  /** Remove and return the item the server echoed. */
  confirm(clientId) {
    const item = this.items.get(clientId);
    this.items.delete(clientId);
    return item;
  }

  /** Items to put on the wire now: queued ones, and sent ones unanswered for longer than resendAfterMs. */
  due(now, resendAfterMs) {
    return [...this.items.values()].filter(
      (item) => item.state === "queued" || (item.state === "sent" && now - item.sentAt > resendAfterMs),
    );
  }

  /** Every sent but unanswered item goes back to the queue (a new socket, or the server asked to slow down). */
  requeue() {
    for (const item of this.items.values()) if (item.state === "sent") item.state = "queued";
  }

  /** The oldest item awaiting an answer. */
  oldestSent() {
    for (const item of this.items.values()) if (item.state === "sent") return item;
    return null;
  }

  clear() {
    this.items.clear();
  }
}
