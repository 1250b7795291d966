// The DOM of one open dialog: header, history, typing, composer and the details pane.
// Everything is built with dom.js's h(), so message text is only ever text, never HTML.

import { h, icon, replace } from "./dom.js";
import { avatarFor, clock, dayLabel, fullTime, visitorName } from "./format.js";
import { noticeText, t } from "./i18n.js";
import { renderConnection, statusChip } from "./inbox.js";
import { session } from "./session.js";

// Messages of one sender closer than this are grouped under one header.
const GROUP_MS = 5 * 60 * 1000;
// How far from the bottom still counts as "at the bottom" for auto-scroll.
const STICKY_PX = 80;
// The reply box grows with its text up to this height.
const INPUT_MAX_PX = 200;

export class ConversationView {
  /**
   * actions: {act(name), block(), send(), input(), retry(entry), discard(entry)}, what the operator does;
   * assistantName(id) names an assistant.
   */
  constructor({ dialogId, draft, assistantName, actions }) {
    this.id = dialogId;
    this.assistantName = assistantName;
    this.actions = actions;
    this.lastShown = null;
    this.seenQueued = false;
    this.blockResult = null; // the answer of a block from this view: {blocked, closed}
    this.build(draft);
  }

  build(draft) {
    const a = this.actions;
    this.titleEl = h("h2", { class: "convo-title" });
    this.subtitleEl = h("div", { class: "convo-sub" });
    this.avatarEl = h("span", { class: "avatar avatar-lg" });
    this.stateEl = h("div", { class: "convo-state", "aria-live": "polite" });
    this.takeBtn = h("button", { type: "button", class: "btn btn-primary", dataset: { action: "takeover" }, onclick: () => a.act("takeover") }, icon("hand", 16), h("span", {}, t("action.takeover")));
    this.releaseBtn = h("button", { type: "button", class: "btn", dataset: { action: "release" }, title: t("action.release"), onclick: () => a.act("release") }, icon("bot", 16), h("span", {}, t("action.release")));
    this.closeBtn = h("button", { type: "button", class: "btn btn-quiet", dataset: { action: "close" }, title: t("action.close"), onclick: () => a.act("close") }, icon("check", 16), h("span", {}, t("action.close")));
    this.detailsBtn = h("button", { type: "button", class: "btn btn-icon details-toggle", "aria-label": t("details.toggle"), title: t("details.toggle"), onclick: () => document.body.classList.toggle("details-open") }, icon("info", 18));
    this.connEl = h("span", { class: "live-dot" });
    this.bannerEl = h("div", { class: "convo-banner", hidden: true, role: "status" });
    this.historyEl = h("div", { class: "history", role: "log", "aria-live": "polite", "aria-label": t("convo.history") });
    this.pendingEl = h("div", { class: "pending-list" });
    this.streamEl = h("div", { class: "pending-list", "aria-hidden": "true" });
    this.listEl = h("div", { class: "messages" }, this.historyEl, this.streamEl, this.pendingEl);
    this.newPill = h("button", { type: "button", class: "new-pill", hidden: true, onclick: () => this.scrollToBottom(true) }, t("convo.new_messages"));
    this.typingEl = h("div", { class: "typing", hidden: true, "aria-live": "polite" });
    this.hintEl = h("div", { class: "composer-hint" });
    this.input = h("textarea", {
      class: "composer-input",
      rows: "1",
      "aria-label": t("composer.label"),
      placeholder: t("composer.placeholder"),
      oninput: () => a.input(),
      onkeydown: (event) => this.onKey(event),
    });
    this.input.value = draft;
    this.sendBtn = h("button", { type: "button", class: "btn btn-primary btn-send", "aria-label": t("composer.send"), title: t("composer.send"), onclick: () => a.send() }, icon("send", 18));
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
    this.blockBtn = h("button", { type: "button", class: "btn btn-sm btn-danger-quiet", dataset: { action: "block" }, onclick: () => a.block() }, icon("ban", 14), h("span", {}, t("block.action")));
    this.details = h("aside", { class: "pane details", "aria-label": t("details.title") });
    requestAnimationFrame(() => this.autosize());
  }

  // ---- header and details ------------------------------------------------------------

  /** Title, status, holder, the action buttons and the composer's hint, from the state. */
  renderHeader(state) {
    const d = state.summary;
    const guest = d ? d.guest_id : "";
    const avatar = avatarFor(guest);
    this.avatarEl.style.setProperty("--hue", String(avatar.hue));
    replace(this.avatarEl, avatar.initials);
    replace(this.titleEl, d ? visitorName(guest) : t("loading"));
    replace(this.subtitleEl, d ? `${this.assistantName(d.assistant_id)} · #${d.id}` : `#${this.id}`);
    const { status, holder, mine } = state;
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
    this.renderDetails(state);
  }

  renderDetails(state) {
    const d = state.summary;
    if (!d) {
      replace(this.details, h("div", { class: "details-body" }, t("loading")));
      return;
    }
    const avatar = avatarFor(d.guest_id);
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
          this.blockResult ? blockedNote(this.blockResult) : this.blockBtn,
        ),
        h(
          "section",
          { class: "details-card" },
          h("h3", {}, t("details.conversation")),
          h(
            "dl",
            { class: "kvs" },
            row(t("details.status"), statusChip(d.status)),
            row(t("details.holder"), holderShort(d.status, state.holder, state.mine), { class: "details-holder" }),
            row(t("details.assistant"), this.assistantName(d.assistant_id)),
            row(t("details.dialog"), `#${d.id}`),
            row(t("details.started"), fullTime(d.created_at)),
            row(t("details.activity"), fullTime(d.updated_at)),
            row(t("details.messages"), String(state.lastSeq)),
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

  /** The visitor was blocked from here: the note replaces the button. */
  showBlocked(result, state) {
    this.blockResult = result;
    this.renderDetails(state);
  }

  /** The connection dot, and the banner while the socket waits to retry. */
  showConnection(connection) {
    renderConnection(this.connEl, connection);
    if (connection.state === "retrying") {
      this.bannerEl.hidden = false;
      replace(this.bannerEl, icon("refresh", 14), h("span", {}, t("convo.reconnecting", { s: Math.max(1, Math.round(connection.retryIn / 1000)) })));
    } else if (connection.state === "live") {
      this.bannerEl.hidden = true;
    }
  }

  /** The dialog is gone or not ours: no history, no composer. */
  showMissing() {
    replace(this.historyEl, h("div", { class: "convo-empty" }, t("convo.missing")));
    this.composer.hidden = true;
  }

  // ---- history -----------------------------------------------------------------------

  /**
   * Messages the Timeline released, in seq order: each goes after the last one shown.
   * state gives the visitor's name and the assistant's for the authors.
   */
  appendMessages(messages, state) {
    if (!messages.length) return;
    const stick = this.atBottom();
    let mineArrived = false;
    let othersArrived = false;
    for (const m of messages) {
      this.appendBubble(m, state);
      if (m.sender === "operator" && session.isMine(m.client_id)) mineArrived = true;
      else if (m.sender !== "system") othersArrived = true;
    }
    if (stick || mineArrived) this.scrollToBottom(false);
    else if (othersArrived) this.newPill.hidden = false;
    this.renderSeen(state);
  }

  appendBubble(m, state) {
    const prev = this.lastShown;
    if (!prev || dayLabel(prev.created_at) !== dayLabel(m.created_at)) {
      this.historyEl.append(h("div", { class: "day", role: "separator" }, h("span", {}, dayLabel(m.created_at))));
    }
    const grouped =
      prev && prev.sender === m.sender && m.sender !== "system" && sameAuthor(prev, m) && new Date(m.created_at) - new Date(prev.created_at) < GROUP_MS;
    this.historyEl.append(this.bubble(m, grouped, state));
    this.lastShown = m;
  }

  bubble(m, grouped, state) {
    if (m.sender === "system") {
      return h(
        "div",
        { class: "msg msg-system", dataset: { seq: String(m.seq), notice: m.notice || "" } },
        h("span", { class: "system-text" }, h("div", { class: "msg-body" }, noticeText(m))),
        h("time", { class: "msg-time", datetime: m.created_at }, clock(m.created_at)),
      );
    }
    const mine = m.sender === "operator" && session.isMine(m.client_id);
    const classes = ["msg", `msg-${m.sender}`];
    if (grouped) classes.push("grouped");
    if (mine) classes.push("mine");
    return h(
      "div",
      { class: classes.join(" "), dataset: { seq: String(m.seq), sender: m.sender, clientId: m.client_id || "" } },
      grouped ? null : h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, this.author(m, mine, state)), h("time", { class: "msg-time", datetime: m.created_at, title: fullTime(m.created_at) }, clock(m.created_at))),
      h("div", { class: "msg-body" }, m.text),
      h("div", { class: "msg-foot" }),
    );
  }

  author(m, mine, state) {
    const d = state.summary;
    if (m.sender === "user") return visitorName(d ? d.guest_id : "");
    if (m.sender === "assistant") return `${t("sender.assistant")}${d ? ` · ${this.assistantName(d.assistant_id)}` : ""}`;
    return mine ? t("sender.you") : t("sender.operator");
  }

  /** Mark "Seen" under the newest outgoing message the visitor has read (once per frame). */
  renderSeen(state) {
    if (this.seenQueued) return;
    this.seenQueued = true;
    requestAnimationFrame(() => {
      this.seenQueued = false;
      this.paintSeen(state.visitorReadSeq);
    });
  }

  paintSeen(seen) {
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

  // ---- typing and answers being generated ------------------------------------------------

  renderTyping(typers) {
    this.typingEl.hidden = typers.length === 0;
    if (!typers.length) return;
    const label = typers.includes("user") ? t("typing.visitor") : t("typing.assistant");
    replace(this.typingEl, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", {}, label));
  }

  renderStreams(texts) {
    const stick = this.atBottom();
    replace(
      this.streamEl,
      texts.map((text) =>
        h(
          "div",
          { class: "msg msg-assistant streaming" },
          h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, t("sender.assistant")), h("span", { class: "msg-time" }, t("typing.assistant"))),
          h("div", { class: "msg-body" }, text),
        ),
      ),
    );
    if (stick && texts.length) this.scrollToBottom(false);
  }

  // ---- the composer and pending replies ----------------------------------------------------

  onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.actions.send();
    } else if (event.key === "Escape") {
      this.input.blur();
    }
  }

  /** The reply typed, or "" when there is nothing to send. */
  get reply() {
    return this.input.disabled || !this.input.value.trim() ? "" : this.input.value;
  }

  clearInput() {
    this.input.value = "";
    this.autosize();
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, INPUT_MAX_PX)}px`;
  }

  focusComposer() {
    if (!this.input.disabled) this.input.focus();
  }

  renderOutbox(entries) {
    replace(
      this.pendingEl,
      entries.map((entry) => {
        const failed = entry.state === "failed";
        return h(
          "div",
          { class: `msg msg-operator mine pending${failed ? " failed" : ""}`, dataset: { clientId: entry.client_id, state: entry.state } },
          h("div", { class: "msg-body" }, entry.text),
          h(
            "div",
            { class: "msg-foot" },
            failed
              ? [
                  icon("alert", 14),
                  h("span", {}, t("pending.failed", { detail: entry.error || "" })),
                  h("button", { type: "button", class: "link", onclick: () => this.actions.retry(entry) }, t("pending.retry")),
                  h("button", { type: "button", class: "link", onclick: () => this.actions.discard(entry) }, t("pending.discard")),
                ]
              : [icon("clock", 14), h("span", {}, t(entry.state === "stored" ? "pending.stored" : "pending.sending"))],
          ),
        );
      }),
    );
  }

  /** Disable the handoff buttons (and blocking) while one of them is answered. */
  busy(on) {
    for (const button of [this.takeBtn, this.releaseBtn, this.closeBtn, this.blockBtn]) button.disabled = on;
  }
}

/** What a block did: which of the visitor's marks are blocked, how many conversations closed. */
function blockedNote(result) {
  return h(
    "div",
    { class: "blocked-note", role: "status", dataset: { closed: String(result.closed.length) } },
    h("div", { class: "blocked-title" }, icon("ban", 14), h("span", {}, t("block.done_title"))),
    h("div", {}, t("block.done_closed", { n: result.closed.length })),
    h("a", { href: "#/blocks" }, t("block.see_list")),
  );
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
