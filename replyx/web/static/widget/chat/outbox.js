// The visitor's messages not yet echoed by the server; no DOM.

import { newClientId } from "../../shared/clientid.js";

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
