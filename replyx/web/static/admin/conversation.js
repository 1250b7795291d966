// One dialog: history in seq order, live through the admin socket, replies that stay
// pending until the server echoes their client_id, handoff buttons and the details pane.
// Message text is only ever assigned as text (see dom.js); it is never parsed as HTML.

import { ApiError, get, post, socketUrl } from "./api.js";
import { h, icon, replace, toast } from "./dom.js";
import { avatarFor, clock, dayLabel, fullTime, visitorName } from "./format.js";
import { systemText, t } from "./i18n.js";
import { renderConnection, statusChip } from "./inbox.js";
import { session } from "./session.js";
import { LiveSocket, UNAUTHORIZED } from "./socket.js";

// Typing: announce at most every 3 s while keys are pressed; "stop" after 2.5 s without any.
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 2500;
// A visitor's "start" without a "stop" (closed tab) is forgotten after this long.
const TYPING_SHOW_MS = 8000;
// Read receipts are batched: one frame per burst of incoming messages.
const READ_DELAY_MS = 400;
// Replies that failed for a transient reason are retried this often even without a reconnect.
const RETRY_MS = 5000;
// An answer being generated that stops streaming (model failed) is dropped after this long.
const STREAM_FORGET_MS = 30000;
// Messages of one sender closer than this are grouped under one header.
const GROUP_MS = 5 * 60 * 1000;
// How far from the bottom still counts as "at the bottom" for auto-scroll.
const STICKY_PX = 80;

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class Conversation {
  constructor({ dialogId, store }) {
    this.id = dialogId;
    this.store = store;
    const known = store.dialogs.get(dialogId);
    this.summary = known ? { ...known } : null;
    this.live = {}; // status and holder as the socket last told them, newer than any REST answer
    this.messages = new Map(); // seq -> message
    this.contiguous = 0; // every seq up to here is present
    this.gaps = new Set();
    this.outbox = session.outbox(dialogId).map((e) => ({ ...e, state: e.state === "failed" ? "failed" : "queued" }));
    this.flushing = false;
    this.retryTimer = null;
    this.typingTimers = {};
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.readSent = 0;
    this.readTimer = null;
    this.destroyed = false;
    this.build();
    this.socket = new LiveSocket({
      url: () => socketUrl(`/ws/dialogs/${this.id}`, { token: session.token || "", since: String(this.contiguous) }),
      onEvent: (event) => this.onEvent(event),
      onState: (state) => this.onConnection(state),
      onTerminal: (code) => this.onTerminal(code),
    });
    this.onVisible = () => this.scheduleRead();
    document.addEventListener("visibilitychange", this.onVisible);
  }

  async start() {
    this.renderHeader();
    this.renderOutbox();
    this.socket.start();
    try {
      const fetched = await get(`/api/dialogs/${this.id}`);
      this.summary = { ...fetched, ...this.live, last_seq: Math.max(fetched.last_seq, this.contiguous) };
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
    clearTimeout(this.retryTimer);
    clearTimeout(this.readTimer);
    clearTimeout(this.streamTimer);
    clearTimeout(this.typingIdle);
    for (const timer of Object.values(this.typingTimers)) clearTimeout(timer);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  // ---- DOM -------------------------------------------------------------------------

  build() {
    this.titleEl = h("h2", { class: "convo-title" });
    this.subtitleEl = h("div", { class: "convo-sub" });
    this.avatarEl = h("span", { class: "avatar avatar-lg" });
    this.stateEl = h("div", { class: "convo-state", "aria-live": "polite" });
    this.takeBtn = h("button", { type: "button", class: "btn btn-primary", dataset: { action: "takeover" }, onclick: () => this.act("takeover") }, icon("hand", 16), h("span", {}, t("action.takeover")));
    this.releaseBtn = h("button", { type: "button", class: "btn", dataset: { action: "release" }, title: t("action.release"), onclick: () => this.act("release") }, icon("bot", 16), h("span", {}, t("action.release")));
    this.closeBtn = h("button", { type: "button", class: "btn btn-quiet", dataset: { action: "close" }, title: t("action.close"), onclick: () => this.act("close") }, icon("check", 16), h("span", {}, t("action.close")));
    this.detailsBtn = h("button", { type: "button", class: "btn btn-icon details-toggle", "aria-label": t("details.toggle"), title: t("details.toggle"), onclick: () => this.toggleDetails() }, icon("info", 18));
    this.connEl = h("span", { class: "live-dot" });
    this.bannerEl = h("div", { class: "convo-banner", hidden: true, role: "status" });
    this.historyEl = h("div", { class: "history", role: "log", "aria-live": "polite", "aria-label": t("convo.history") });
    this.pendingEl = h("div", { class: "pending-list" });
    this.streamEl = h("div", { class: "pending-list", "aria-hidden": "true" });
    this.streams = new Map(); // stream_id -> text of an assistant answer being generated
    this.listEl = h("div", { class: "messages" }, this.historyEl, this.streamEl, this.pendingEl);
    this.lastRendered = null;
    this.newPill = h("button", { type: "button", class: "new-pill", hidden: true, onclick: () => this.scrollToBottom(true) }, t("convo.new_messages"));
    this.typingEl = h("div", { class: "typing", hidden: true, "aria-live": "polite" });
    this.hintEl = h("div", { class: "composer-hint" });
    this.input = h("textarea", {
      class: "composer-input",
      rows: "1",
      "aria-label": t("composer.label"),
      placeholder: t("composer.placeholder"),
      oninput: () => this.onInput(),
      onkeydown: (event) => this.onKey(event),
    });
    this.input.value = session.draft(this.id);
    this.sendBtn = h("button", { type: "button", class: "btn btn-primary btn-send", "aria-label": t("composer.send"), title: t("composer.send"), onclick: () => this.send() }, icon("send", 18));
    this.composer = h(
      "footer",
      { class: "composer" },
      this.hintEl,
      h("div", { class: "composer-box" }, this.input, this.sendBtn),
      h("div", { class: "composer-keys" }, t("composer.keys")),
    );
    this.pane = h(
      "section",
      { class: "pane convo", "aria-label": t("convo.label"), dataset: { dialogId: String(this.id) } },
      h(
        "header",
        { class: "convo-head" },
        h("a", { href: "#/inbox", class: "btn btn-icon back-btn", "aria-label": t("convo.back"), title: t("convo.back") }, icon("back", 18)),
        this.avatarEl,
        h("div", { class: "convo-who" }, this.titleEl, this.subtitleEl),
        h("div", { class: "convo-actions" }, this.takeBtn, this.releaseBtn, this.closeBtn, this.detailsBtn),
      ),
      h("div", { class: "convo-statusbar" }, this.stateEl, this.connEl),
      this.bannerEl,
      h("div", { class: "messages-wrap" }, this.listEl, this.newPill),
      this.typingEl,
      this.composer,
    );
    this.listEl.addEventListener("scroll", () => {
      if (this.atBottom()) this.newPill.hidden = true;
    });
    this.details = h("aside", { class: "pane details", "aria-label": t("details.title") });
    requestAnimationFrame(() => this.autosize());
  }

  toggleDetails() {
    document.body.classList.toggle("details-open");
  }

  showMissing() {
    replace(this.historyEl, h("div", { class: "convo-empty" }, t("convo.missing")));
    this.composer.hidden = true;
    this.socket.stop();
  }

  renderHeader() {
    const d = this.summary;
    const guest = d ? d.guest_id : "";
    const avatar = avatarFor(guest);
    this.avatarEl.style.setProperty("--hue", String(avatar.hue));
    replace(this.avatarEl, avatar.initials);
    replace(this.titleEl, d ? visitorName(guest) : t("loading"));
    replace(this.subtitleEl, d ? `${this.store.assistantName(d.assistant_id)} · #${d.id}` : `#${this.id}`);
    const status = d ? d.status : null;
    const holder = d && d.operator;
    const mine = Boolean(holder && session.me && holder.id === session.me.id);
    replace(this.stateEl, status ? statusChip(status) : null, h("span", { class: "holder", dataset: { holder: holder ? holder.name : "" } }, holderText(status, holder, mine)));
    this.takeBtn.hidden = !status || status === "closed" || mine;
    this.takeBtn.title = status === "operator" && holder ? t("action.takeover_from", { name: holder.name }) : t("action.takeover");
    this.releaseBtn.hidden = status !== "operator";
    this.closeBtn.hidden = !status || status === "closed";
    const closed = status === "closed";
    this.input.disabled = closed;
    this.sendBtn.disabled = closed;
    this.input.placeholder = closed ? t("composer.closed") : t("composer.placeholder");
    let hint = "";
    if (status === "ai" || status === "requested") hint = t("composer.hint_takeover");
    else if (status === "operator" && holder && !mine) hint = t("composer.hint_other", { name: holder.name });
    replace(this.hintEl, hint ? [icon("info", 14), h("span", {}, hint)] : null);
    this.hintEl.hidden = !hint;
    this.renderDetails();
  }

  renderDetails() {
    const d = this.summary;
    if (!d) {
      replace(this.details, h("div", { class: "details-body" }, t("loading")));
      return;
    }
    const avatar = avatarFor(d.guest_id);
    const holder = d.operator;
    const mine = Boolean(holder && session.me && holder.id === session.me.id);
    const row = (label, value, extra = {}) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", extra, value));
    replace(
      this.details,
      h(
        "div",
        { class: "details-body" },
        h(
          "div",
          { class: "details-card contact" },
          h("span", { class: "avatar avatar-xl", style: `--hue:${avatar.hue}` }, avatar.initials),
          h("div", { class: "contact-name" }, visitorName(d.guest_id)),
          h("div", { class: "contact-id mono", title: t("details.guest_id") }, d.guest_id),
        ),
        h(
          "section",
          { class: "details-card" },
          h("h3", {}, t("details.conversation")),
          h(
            "dl",
            { class: "kvs" },
            row(t("details.status"), statusChip(d.status)),
            row(t("details.holder"), holderShort(d.status, holder, mine), { class: "details-holder" }),
            row(t("details.assistant"), this.store.assistantName(d.assistant_id)),
            row(t("details.dialog"), `#${d.id}`),
            row(t("details.started"), fullTime(d.created_at)),
            row(t("details.activity"), fullTime(d.updated_at)),
            row(t("details.messages"), String(Math.max(d.last_seq || 0, this.contiguous))),
            row(t("details.seen"), d.visitor_read_seq ? `#${d.visitor_read_seq}` : "—"),
          ),
        ),
        h(
          "section",
          { class: "details-card" },
          h("h3", {}, t("details.shortcuts")),
          h(
            "dl",
            { class: "kvs keys" },
            row(h("kbd", {}, "Enter"), t("keys.send")),
            row(h("kbd", {}, "Shift+Enter"), t("keys.newline")),
            row(h("kbd", {}, "Alt+↑/↓"), t("keys.switch")),
            row(h("kbd", {}, "Esc"), t("keys.leave")),
          ),
        ),
      ),
    );
  }

  // ---- socket events ---------------------------------------------------------------

  onConnection(state) {
    renderConnection(this.connEl, state);
    if (state.state === "retrying") {
      this.bannerEl.hidden = false;
      replace(this.bannerEl, icon("refresh", 14), h("span", {}, t("convo.reconnecting", { s: Math.max(1, Math.round(state.retryIn / 1000)) })));
    } else if (state.state === "live") {
      this.bannerEl.hidden = true;
    }
  }

  onTerminal(code) {
    if (code === UNAUTHORIZED) {
      session.expire("expired");
      return;
    }
    if (code === 4003 || code === 4004) this.showMissing();
  }

  onEvent(event) {
    if (this.destroyed) return;
    if (event.dialog_id !== undefined && event.dialog_id !== null && event.dialog_id !== this.id) return;
    switch (event.type) {
      case "message":
        this.addMessage(event.message, false);
        break;
      case "ready":
        this.onReady(event);
        break;
      case "status":
        this.live = { status: event.status, operator: event.operator };
        this.patchSummary(this.live);
        break;
      case "typing":
        this.onTyping(event);
        break;
      case "message_delta":
        this.onDelta(event);
        break;
      case "read":
        if (event.reader === "user") {
          this.patchSummary({ visitor_read_seq: Math.max(this.summary?.visitor_read_seq || 0, event.seq) });
          this.renderSeen();
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
      if (event.status !== this.live.status) this.live = { status: event.status };
      this.patchSummary({ status: event.status });
    }
    if (event.last_seq > this.contiguous) this.fillGap(this.contiguous, event.last_seq);
    this.flush();
    this.scheduleRead();
  }

  patchSummary(fields) {
    if (!this.summary) return;
    Object.assign(this.summary, fields);
    this.renderHeader();
  }

  // ---- messages --------------------------------------------------------------------

  addMessage(m, fromGap) {
    if (this.messages.has(m.seq)) return;
    this.messages.set(m.seq, m);
    while (this.messages.has(this.contiguous + 1)) this.contiguous += 1;
    if (!fromGap && m.seq > this.contiguous + 1) this.fillGap(this.contiguous, m.seq - 1);
    if (this.summary) {
      this.summary.last_seq = Math.max(this.summary.last_seq || 0, m.seq);
      if (m.seq === this.summary.last_seq) this.summary.updated_at = m.created_at;
    }
    const stick = this.atBottom();
    if (m.seq > (this.lastRendered ? this.lastRendered.seq : 0)) this.appendBubble(m);
    else this.renderAll();
    if (m.client_id) this.echoed(m.client_id);
    if (stick || (m.sender === "operator" && session.isMine(m.client_id))) this.scrollToBottom(false);
    else if (m.sender !== "system") this.newPill.hidden = false;
    if (m.sender === "user") this.clearTyping("user");
    if (m.sender === "assistant") {
      this.clearTyping("assistant");
      this.clearStreams();
    }
    this.scheduleRead();
  }

  async fillGap(since, until) {
    const key = `${since}-${until}`;
    if (until <= since || this.gaps.has(key)) return;
    this.gaps.add(key);
    try {
      let from = since;
      while (from < until) {
        const page = await get(`/api/dialogs/${this.id}/messages?since=${from}&until=${until}`);
        if (!page.messages.length) break;
        for (const m of page.messages) this.addMessage(m, true);
        from = page.messages[page.messages.length - 1].seq;
      }
    } catch {
      /* the next reconnect replays from `contiguous` */
    } finally {
      this.gaps.delete(key);
    }
  }

  renderAll() {
    replace(this.historyEl);
    this.lastRendered = null;
    for (const seq of [...this.messages.keys()].sort((a, b) => a - b)) this.appendBubble(this.messages.get(seq));
  }

  appendBubble(m) {
    const prev = this.lastRendered;
    if (!prev || dayLabel(prev.created_at) !== dayLabel(m.created_at)) {
      this.historyEl.append(h("div", { class: "day", role: "separator" }, h("span", {}, dayLabel(m.created_at))));
    }
    const grouped =
      prev && prev.sender === m.sender && m.sender !== "system" && sameAuthor(prev, m) && new Date(m.created_at) - new Date(prev.created_at) < GROUP_MS;
    this.historyEl.append(this.bubble(m, grouped));
    this.lastRendered = m;
    this.renderSeen();
  }

  bubble(m, grouped) {
    const mine = m.sender === "operator" && session.isMine(m.client_id);
    const classes = ["msg", `msg-${m.sender}`];
    if (grouped) classes.push("grouped");
    if (mine) classes.push("mine");
    const body = h("div", { class: "msg-body" });
    body.textContent = m.sender === "system" ? systemText(m.text) : m.text; // always text, never HTML
    if (m.sender === "system") {
      return h("div", { class: classes.join(" "), dataset: { seq: String(m.seq) } }, h("span", { class: "system-text" }, body), h("time", { class: "msg-time", datetime: m.created_at }, clock(m.created_at)));
    }
    return h(
      "div",
      { class: classes.join(" "), dataset: { seq: String(m.seq), sender: m.sender, clientId: m.client_id || "" } },
      grouped ? null : h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, this.author(m, mine)), h("time", { class: "msg-time", datetime: m.created_at, title: fullTime(m.created_at) }, clock(m.created_at))),
      body,
      h("div", { class: "msg-foot" }),
    );
  }

  author(m, mine) {
    if (m.sender === "user") return visitorName(this.summary ? this.summary.guest_id : "");
    if (m.sender === "assistant") return `${t("sender.assistant")}${this.summary ? ` · ${this.store.assistantName(this.summary.assistant_id)}` : ""}`;
    if (m.sender === "operator") return mine ? t("sender.you") : t("sender.operator");
    return "";
  }

  /** Mark "Seen" under the newest outgoing message the visitor has read. */
  renderSeen() {
    if (this.seenQueued) return;
    this.seenQueued = true;
    requestAnimationFrame(() => {
      this.seenQueued = false;
      this.paintSeen();
    });
  }

  paintSeen() {
    const seen = this.summary ? this.summary.visitor_read_seq || 0 : 0;
    let marked = false;
    const outgoing = [...this.historyEl.querySelectorAll(".msg-operator, .msg-assistant")].reverse();
    for (const el of outgoing) {
      const foot = el.querySelector(".msg-foot");
      if (!foot) continue;
      const isSeen = !marked && Number(el.dataset.seq) <= seen;
      if (isSeen) marked = true;
      replace(foot, isSeen ? [icon("checks", 14), h("span", {}, t("convo.seen"))] : null);
    }
  }

  atBottom() {
    const el = this.listEl;
    return el.scrollHeight - el.scrollTop - el.clientHeight < STICKY_PX;
  }

  scrollToBottom(smooth) {
    this.listEl.scrollTo({ top: this.listEl.scrollHeight, behavior: smooth ? "smooth" : "auto" });
    this.newPill.hidden = true;
  }

  // ---- an assistant answer while it is generated ----------------------------------

  onDelta(event) {
    const stick = this.atBottom();
    this.streams.set(event.stream_id, (this.streams.get(event.stream_id) || "") + event.text);
    clearTimeout(this.streamTimer);
    this.streamTimer = setTimeout(() => this.clearStreams(), STREAM_FORGET_MS);
    this.renderStreams();
    if (stick) this.scrollToBottom(false);
  }

  clearStreams() {
    clearTimeout(this.streamTimer);
    this.streams.clear();
    this.renderStreams();
  }

  renderStreams() {
    replace(
      this.streamEl,
      [...this.streams.values()].map((text) => {
        const body = h("div", { class: "msg-body" });
        body.textContent = text;
        return h(
          "div",
          { class: "msg msg-assistant streaming" },
          h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, t("sender.assistant")), h("span", { class: "msg-time" }, t("typing.assistant"))),
          body,
        );
      }),
    );
  }

  // ---- typing ----------------------------------------------------------------------

  onTyping(event) {
    if (event.sender === "operator") return; // our own echo and colleagues: not shown
    clearTimeout(this.typingTimers[event.sender]);
    if (event.state === "start") {
      this.typingTimers[event.sender] = setTimeout(() => this.clearTyping(event.sender), TYPING_SHOW_MS);
      this.typing = { ...(this.typing || {}), [event.sender]: true };
    } else {
      this.clearTyping(event.sender);
      return;
    }
    this.renderTyping();
  }

  clearTyping(sender) {
    clearTimeout(this.typingTimers[sender]);
    if (this.typing) delete this.typing[sender];
    this.renderTyping();
  }

  renderTyping() {
    const who = Object.keys(this.typing || {});
    this.typingEl.hidden = who.length === 0;
    if (!who.length) return;
    const label = who.includes("user") ? t("typing.visitor") : t("typing.assistant");
    replace(this.typingEl, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", {}, label));
  }

  onInput() {
    session.saveDraft(this.id, this.input.value);
    this.autosize();
    if (!this.input.value.trim()) {
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

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === "Escape") {
      this.input.blur();
    }
  }

  focusComposer() {
    if (!this.input.disabled) this.input.focus();
  }

  // ---- replies: pending until echoed ----------------------------------------------

  send() {
    const text = this.input.value;
    if (!text.trim() || this.input.disabled) return;
    const entry = { client_id: newClientId(), text, state: "queued" };
    session.rememberMine(entry.client_id);
    this.outbox.push(entry);
    this.saveOutbox();
    this.input.value = "";
    session.saveDraft(this.id, "");
    this.autosize();
    this.sendTypingStop();
    this.renderOutbox();
    this.scrollToBottom(false);
    this.flush();
  }

  saveOutbox() {
    session.saveOutbox(this.id, this.outbox);
  }

  /** POST queued replies in order; transient failures wait for the next reconnect or timer. */
  async flush() {
    if (this.flushing || this.destroyed) return;
    this.flushing = true;
    clearTimeout(this.retryTimer);
    try {
      for (const entry of this.outbox) {
        if (entry.state !== "queued") continue;
        entry.state = "sending";
        this.renderOutbox();
        try {
          const stored = await post(`/api/dialogs/${this.id}/messages`, { text: entry.text, client_id: entry.client_id });
          entry.state = "stored";
          entry.seq = stored.seq;
          if (this.messages.has(stored.seq)) this.echoed(entry.client_id);
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
          this.saveOutbox();
          this.renderOutbox();
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  echoed(clientId) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((e) => e.client_id !== clientId);
    if (this.outbox.length !== before) {
      this.saveOutbox();
      this.renderOutbox();
    }
  }

  renderOutbox() {
    replace(
      this.pendingEl,
      this.outbox.map((entry) => {
        const body = h("div", { class: "msg-body" });
        body.textContent = entry.text;
        const failed = entry.state === "failed";
        return h(
          "div",
          { class: `msg msg-operator mine pending${failed ? " failed" : ""}`, dataset: { clientId: entry.client_id, state: entry.state } },
          body,
          h(
            "div",
            { class: "msg-foot" },
            failed
              ? [
                  icon("alert", 14),
                  h("span", {}, t("pending.failed", { detail: entry.error || "" })),
                  h("button", { type: "button", class: "link", onclick: () => this.retry(entry) }, t("pending.retry")),
                  h("button", { type: "button", class: "link", onclick: () => this.discard(entry) }, t("pending.discard")),
                ]
              : [icon("clock", 14), h("span", {}, t(entry.state === "stored" ? "pending.stored" : "pending.sending"))],
          ),
        );
      }),
    );
  }

  retry(entry) {
    entry.state = "queued";
    entry.error = null;
    this.saveOutbox();
    this.flush();
  }

  discard(entry) {
    this.outbox = this.outbox.filter((e) => e !== entry);
    this.saveOutbox();
    this.renderOutbox();
  }

  // ---- read receipts and handoff --------------------------------------------------

  scheduleRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      if (document.visibilityState !== "visible" || this.contiguous <= this.readSent) return;
      if (this.socket.send({ type: "read", seq: this.contiguous })) this.readSent = this.contiguous;
    }, READ_DELAY_MS);
  }

  async act(action) {
    const buttons = [this.takeBtn, this.releaseBtn, this.closeBtn];
    for (const b of buttons) b.disabled = true;
    try {
      const dialog = await post(`/api/dialogs/${this.id}/${action}`);
      this.summary = { ...(this.summary || {}), ...dialog };
      this.store.put(dialog);
      this.renderHeader();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) toast(error.detail || error.message, "error");
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
}

function sameAuthor(a, b) {
  if (a.sender !== "operator") return true;
  return session.isMine(a.client_id) === session.isMine(b.client_id);
}

function holderShort(status, holder, mine) {
  if (status === "operator") return mine ? t("holder.you_short") : holder ? holder.name : "?";
  if (status === "ai") return t("sender.assistant");
  if (status === "requested") return t("holder.nobody");
  return "—";
}

function holderText(status, holder, mine) {
  if (status === "operator") return mine ? t("holder.you") : t("holder.operator", { name: holder ? holder.name : "?" });
  if (status === "requested") return t("holder.waiting");
  if (status === "ai") return t("holder.ai");
  if (status === "closed") return t("holder.closed");
  return "";
}

/** The conversation pane when no dialog is selected. */
export function emptyConversation(store) {
  const counts = store.counts();
  return h(
    "section",
    { class: "pane convo convo-none" },
    h(
      "div",
      { class: "none-card" },
      icon("chat", 40),
      h("h2", {}, t("convo.none_title")),
      h("p", {}, counts.requested ? t("convo.none_waiting", { n: counts.requested }) : t("convo.none_text")),
    ),
  );
}
