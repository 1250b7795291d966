// One open dialog: wires its state, its view, the shared socket client and REST together.
// Messages reach the view only through the state's Timeline, so they are shown once and in
// seq order; a skipped seq is fetched over REST (shared/catchup.js). Replies go over REST
// and stay pending until the server echoes their client_id.

import { CatchUp } from "../shared/catchup.js";
import { CLOSE } from "../shared/closecodes.js";
import { LiveSocket } from "../shared/socket.js";
import { ApiError, get, post, socketUrl } from "./api.js";
import { ConversationState } from "./conversation-state.js";
import { ConversationView } from "./conversation-view.js";
import { toast } from "./dom.js";
import { t } from "./i18n.js";
import { confirmDialog } from "./modal.js";
import { session } from "./session.js";

// Typing: announce at most every 3 s while keys are pressed; "stop" after 2.5 s without any.
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 2500;
// Read receipts are batched: one frame per burst of incoming messages.
const READ_DELAY_MS = 400;
// Replies that failed for a transient reason are retried this often even without a reconnect.
const RETRY_MS = 5000;

export class Conversation {
  constructor({ dialogId, store }) {
    this.id = dialogId;
    this.store = store;
    this.state = new ConversationState({
      dialogId,
      summary: store.dialogs.get(dialogId),
      onChange: (part) => (part === "typing" ? this.renderTyping() : this.renderStreams()),
    });
    this.view = new ConversationView({
      dialogId,
      draft: session.draft(dialogId),
      assistantName: (id) => store.assistantName(id),
      actions: {
        act: (action) => this.act(action),
        block: () => this.block(),
        send: () => this.send(),
        input: () => this.onInput(),
        retry: (entry) => this.retry(entry),
        discard: (entry) => this.discard(entry),
      },
    });
    this.flushing = false;
    this.retryTimer = null;
    this.readTimer = null;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.destroyed = false;
    this.usedToken = null;
    this.socket = new LiveSocket({
      url: () => {
        this.usedToken = session.token;
        return socketUrl(`/ws/dialogs/${this.id}`, { token: session.token || "" });
      },
      since: () => this.state.timeline.lastSeq,
      onEvent: (event) => this.onEvent(event),
      onState: (connection) => this.onConnection(connection),
    });
    this.catchUp = new CatchUp({
      timeline: this.state.timeline,
      fetchRange: async (since, until) => (await get(`/api/dialogs/${this.id}/messages?since=${since}&until=${until}`)).messages,
      deliver: (messages) => messages.forEach((m) => this.receive(m)),
      // The range could not be fetched: a new socket's replay brings it instead.
      onStuck: () => this.socket.reconnect(),
    });
    this.onVisible = () => this.scheduleRead();
    document.addEventListener("visibilitychange", this.onVisible);
    // Replies that failed while the network was away go out as soon as it is back.
    this.onOnline = () => this.flush();
    window.addEventListener("online", this.onOnline);
  }

  get pane() {
    return this.view.pane;
  }

  get details() {
    return this.view.details;
  }

  async start() {
    this.renderHeader();
    this.view.renderOutbox(this.state.outbox);
    this.socket.start();
    try {
      const fetched = await get(`/api/dialogs/${this.id}`);
      if (this.destroyed) return;
      this.state.fetched(fetched);
      this.store.put(fetched);
      this.renderHeader();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) this.showMissing();
    }
  }

  destroy() {
    this.destroyed = true;
    this.sendTypingStop();
    this.socket.stop();
    this.catchUp.cancel();
    this.state.dispose();
    clearTimeout(this.retryTimer);
    clearTimeout(this.readTimer);
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("online", this.onOnline);
  }

  focusComposer() {
    this.view.focusComposer();
  }

  renderHeader() {
    this.view.renderHeader(this.state);
  }

  renderTyping() {
    this.view.renderTyping(this.state.typers());
  }

  renderStreams() {
    this.view.renderStreams([...this.state.streams.values()]);
  }

  showMissing() {
    this.view.showMissing();
    this.socket.stop();
  }

  // ---- socket events ---------------------------------------------------------------

  onConnection(connection) {
    this.view.showConnection(connection);
    if (connection.state !== "stopped") return;
    if (connection.code === CLOSE.UNAUTHORIZED) this.refused();
    else if (connection.code === CLOSE.FORBIDDEN || connection.code === CLOSE.NOT_FOUND) this.showMissing();
  }

  /** The socket's token was refused: reconnect with a newer one (a password change here), or the session is over. */
  async refused() {
    if ((await session.refused(this.usedToken)) && !this.destroyed) this.socket.reconnect();
  }

  onEvent(event) {
    if (this.destroyed) return;
    if (event.dialog_id !== undefined && event.dialog_id !== null && event.dialog_id !== this.id) return;
    switch (event.type) {
      case "message":
        this.receive(event.message);
        break;
      case "ready":
        this.onReady(event);
        break;
      case "status":
        this.state.statusChanged(event.status, event.operator);
        this.renderHeader();
        break;
      case "typing":
        if (event.sender === "operator") return; // our own echo and colleagues: not shown
        if (event.state === "start") this.state.typingStarted(event.sender);
        else this.state.typingStopped(event.sender);
        this.renderTyping();
        break;
      case "message_delta":
        this.state.delta(event.stream_id, event.text);
        this.renderStreams();
        break;
      case "read":
        if (event.reader === "user") {
          this.state.visitorRead(event.seq);
          this.renderHeader();
          this.view.renderSeen(this.state);
        }
        break;
      case "error":
        // Replies go over REST and report their own errors; the socket only carries typing
        // and read frames, whose refusal the operator need not see.
        console.warn("replyx socket:", event.code, event.detail);
        break;
      default:
        break;
    }
  }

  onReady(event) {
    if (event.status) {
      this.state.readyStatus(event.status);
      this.renderHeader();
    }
    if (event.read) {
      // Read positions are not replayed as events: a read missed while away is learnt here.
      this.state.readPositions(event.read);
      this.store.readPositions(this.id, event.read);
      this.renderHeader();
      this.view.renderSeen(this.state);
    }
    const shown = this.state.timeline.lastSeq;
    if (event.last_seq > shown) this.catchUp.fill({ since: shown, until: event.last_seq });
    this.flush();
    this.scheduleRead();
  }

  /** A message from the socket or from REST: the Timeline decides what is shown and what is missing. */
  receive(message) {
    if (this.destroyed) return;
    const { ready, gap } = this.state.receive(message);
    if (ready.length) {
      this.view.appendMessages(ready, this.state);
      const echoes = ready.filter((m) => m.client_id && this.state.echoed(m.client_id));
      if (echoes.length) this.view.renderOutbox(this.state.outbox);
      if (ready.some((m) => m.sender === "user" || m.sender === "assistant")) {
        this.renderTyping();
        this.renderStreams();
      }
      this.renderHeader();
      this.scheduleRead();
    }
    if (gap) this.catchUp.fill(gap);
  }

  // ---- typing ----------------------------------------------------------------------

  onInput() {
    session.saveDraft(this.id, this.view.input.value);
    this.view.autosize();
    if (!this.view.input.value.trim()) {
      this.sendTypingStop();
      return;
    }
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_REPEAT_MS) {
      if (this.socket.send({ type: "typing", state: "start" })) this.typingSentAt = now;
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.sendTypingStop(), TYPING_IDLE_MS);
  }

  sendTypingStop() {
    clearTimeout(this.typingIdle);
    if (!this.typingSentAt) return;
    this.typingSentAt = 0;
    this.socket.send({ type: "typing", state: "stop" });
  }

  // ---- replies: pending until echoed ----------------------------------------------

  send() {
    const text = this.view.reply;
    if (!text) return;
    this.state.queue(text);
    this.view.clearInput();
    session.saveDraft(this.id, "");
    this.sendTypingStop();
    this.view.renderOutbox(this.state.outbox);
    this.view.scrollToBottom(false);
    this.flush();
  }

  /** POST queued replies in order; transient failures wait for the next reconnect or timer. */
  async flush() {
    if (this.flushing || this.destroyed) return;
    this.flushing = true;
    clearTimeout(this.retryTimer);
    try {
      for (const entry of this.state.outbox) {
        if (entry.state !== "queued") continue;
        entry.state = "sending";
        this.view.renderOutbox(this.state.outbox);
        try {
          const stored = await post(`/api/dialogs/${this.id}/messages`, { text: entry.text, client_id: entry.client_id });
          entry.state = "stored";
          entry.seq = stored.seq;
          if (this.state.timeline.has(stored.seq)) this.state.echoed(entry.client_id);
        } catch (error) {
          if (error instanceof ApiError && !error.transient && error.status !== 401) {
            entry.state = "failed";
            entry.error = error.detail || error.message;
          } else {
            entry.state = "queued";
            this.retryTimer = setTimeout(() => this.flush(), RETRY_MS);
            break;
          }
        } finally {
          this.state.saveOutbox();
          this.view.renderOutbox(this.state.outbox);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  retry(entry) {
    entry.state = "queued";
    entry.error = null;
    this.state.saveOutbox();
    this.flush();
  }

  discard(entry) {
    this.state.discard(entry);
    this.view.renderOutbox(this.state.outbox);
  }

  // ---- read receipts and handoff --------------------------------------------------

  scheduleRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      const seq = this.state.unreadUpTo();
      if (document.visibilityState !== "visible" || !seq) return;
      if (this.socket.send({ type: "read", seq })) this.state.readSent = seq;
    }, READ_DELAY_MS);
  }

  async act(action) {
    this.view.busy(true);
    try {
      const dialog = await post(`/api/dialogs/${this.id}/${action}`);
      this.state.acted(dialog);
      this.store.put(dialog);
      this.renderHeader();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) toast(error.detail || error.message, "error");
    } finally {
      this.view.busy(false);
    }
  }

  /** Block the visitor (guest id and address) after the operator confirms; their open dialogs close. */
  async block() {
    const confirmed = await confirmDialog({
      title: t("block.confirm_title"),
      text: t("block.confirm_text"),
      confirm: t("block.confirm"),
      danger: true,
    });
    if (!confirmed || this.destroyed) return;
    this.view.busy(true);
    try {
      const result = await post(`/api/dialogs/${this.id}/block`);
      if (this.destroyed) return;
      // This dialog is closed now; its status event may come after the answer.
      if (result.closed.includes(this.id)) this.state.acted({ status: "closed" });
      this.renderHeader();
      this.view.showBlocked(result, this.state);
      toast(t("block.done_closed", { n: result.closed.length }), "success");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) toast(error.detail || error.message, "error");
    } finally {
      this.view.busy(false);
    }
  }
}
