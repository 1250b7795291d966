// What one open dialog holds, without any DOM: messages through the shared Timeline, status and
// holder, who is typing, answers being generated, read positions and the operator's unsent replies.

import { newClientId } from "../shared/clientid.js";
import { Timeline } from "../shared/timeline.js";
import { session } from "./session.js";

// A visitor's "start" without a "stop" (closed tab) is forgotten after this long.
const TYPING_SHOW_MS = 8000;
// An answer being generated that stops streaming (model failed) is dropped after this long.
const STREAM_FORGET_MS = 30000;

export class ConversationState {
  /** summary: the dialog as the inbox knows it (or null); onChange(part) when a timer changes "typing" or "streams". */
  constructor({ dialogId, summary, onChange }) {
    this.id = dialogId;
    this.summary = summary ? { ...summary } : null;
    this.live = {}; // status and holder as the socket last told them, newer than any REST answer
    this.timeline = new Timeline();
    this.typing = new Map(); // sender -> timer that forgets a "start" never stopped
    this.streams = new Map(); // stream_id -> text of an assistant answer being generated
    this.streamTimer = null;
    this.readSent = 0;
    this.onChange = onChange;
    this.outbox = session.outbox(dialogId).map((e) => ({ ...e, state: e.state === "failed" ? "failed" : "queued" }));
  }

  /** Clear every timer. */
  dispose() {
    for (const timer of this.typing.values()) clearTimeout(timer);
    clearTimeout(this.streamTimer);
  }

  // ---- status ---------------------------------------------------------------------

  get status() {
    return this.summary ? this.summary.status : null;
  }

  get holder() {
    return this.summary ? this.summary.operator : null;
  }

  /** True when the signed-in operator holds the dialog. */
  get mine() {
    const holder = this.holder;
    return Boolean(holder && session.me && holder.id === session.me.id);
  }

  /** The highest seq known to exist: shown, announced by the server, or counted in the summary. */
  get lastSeq() {
    return Math.max(this.summary ? this.summary.last_seq || 0 : 0, this.timeline.lastSeq);
  }

  /** A summary fetched over REST: the socket's newer status and the timeline's messages win. */
  fetched(dialog) {
    this.summary = { ...dialog, ...this.live, last_seq: Math.max(dialog.last_seq, this.timeline.lastSeq) };
  }

  /** The answer of a takeover, release or close: the server's word for now. */
  acted(dialog) {
    this.summary = { ...(this.summary || {}), ...dialog };
  }

  /** A `status` event. */
  statusChanged(status, operator) {
    this.live = { status, operator };
    this.patch(this.live);
  }

  /** The status a `ready` event reports; a holder told earlier stays unless the status moved on. */
  readyStatus(status) {
    if (status !== this.live.status) this.live = { status };
    this.patch({ status });
  }

  /** The visitor read up to seq. */
  visitorRead(seq) {
    this.patch({ visitor_read_seq: Math.max(this.visitorReadSeq, seq) });
  }

  /** Both sides' positions from a `ready`: what the server already knows we read is not sent again. */
  readPositions({ user, operator }) {
    if (Number.isInteger(user)) this.visitorRead(user);
    if (Number.isInteger(operator)) this.readSent = Math.max(this.readSent, operator);
  }

  get visitorReadSeq() {
    return this.summary ? this.summary.visitor_read_seq || 0 : 0;
  }

  patch(fields) {
    if (this.summary) Object.assign(this.summary, fields);
  }

  // ---- messages -------------------------------------------------------------------

  /** Take a message from the socket or REST: {ready, gap} as the Timeline says. */
  receive(message) {
    const result = this.timeline.receive(message);
    const newest = result.ready[result.ready.length - 1];
    if (newest && this.summary) {
      if (newest.seq >= (this.summary.last_seq || 0)) this.summary.updated_at = newest.created_at;
      this.summary.last_seq = Math.max(this.summary.last_seq || 0, newest.seq);
    }
    for (const m of result.ready) {
      if (m.sender === "user") this.typingStopped("user");
      if (m.sender === "assistant") {
        this.typingStopped("assistant");
        this.clearStreams();
      }
    }
    return result;
  }

  /** The seq to report as read now, or 0 when the server already has it. */
  unreadUpTo() {
    return this.timeline.lastSeq > this.readSent ? this.timeline.lastSeq : 0;
  }

  // ---- typing and answers being generated -------------------------------------------

  typingStarted(sender) {
    clearTimeout(this.typing.get(sender));
    this.typing.set(
      sender,
      setTimeout(() => {
        this.typing.delete(sender);
        this.onChange("typing");
      }, TYPING_SHOW_MS),
    );
  }

  typingStopped(sender) {
    clearTimeout(this.typing.get(sender));
    this.typing.delete(sender);
  }

  /** Who is typing now: "user", "assistant". */
  typers() {
    return [...this.typing.keys()];
  }

  /** A fragment of an answer being generated. */
  delta(streamId, text) {
    this.streams.set(streamId, (this.streams.get(streamId) || "") + text);
    clearTimeout(this.streamTimer);
    this.streamTimer = setTimeout(() => {
      this.clearStreams();
      this.onChange("streams");
    }, STREAM_FORGET_MS);
  }

  clearStreams() {
    clearTimeout(this.streamTimer);
    this.streams.clear();
  }

  // ---- the operator's replies, pending until echoed ----------------------------------

  /** A new reply, queued and remembered as the operator's own. */
  queue(text) {
    const entry = { client_id: newClientId(), text, state: "queued" };
    session.rememberMine(entry.client_id);
    this.outbox.push(entry);
    this.saveOutbox();
    return entry;
  }

  /** The server echoed a reply: it leaves the outbox. True when it was there. */
  echoed(clientId) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((e) => e.client_id !== clientId);
    if (this.outbox.length === before) return false;
    this.saveOutbox();
    return true;
  }

  discard(entry) {
    this.outbox = this.outbox.filter((e) => e !== entry);
    this.saveOutbox();
  }

  saveOutbox() {
    session.saveOutbox(this.id, this.outbox);
  }
}
