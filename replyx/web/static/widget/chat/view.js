// The chat's DOM. Every piece of message text goes in as text (textContent or text nodes), never HTML.

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  clock: "M12 3.5a8.5 8.5 0 1 0 0 17 8.5 8.5 0 0 0 0-17Zm0 2a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13Zm-.9 2.2v5l4 2.4.9-1.5-3.1-1.9V7.7h-1.8Z",
  check: "m4.5 12.6 4.1 4.1L19.5 5.8l1.4 1.4L8.6 19.5 3.1 14Z",
  checks: "m1.6 12.8 4 4 1.4-1.4-4-4-1.4 1.4Zm5.7 0L6 14.2l5.5 5.5L22.4 8.8 21 7.4l-9.5 9.5-4.2-4.1Zm9.2-5.4L15.1 6l-5.3 5.3 1.4 1.4 5.3-5.3Z",
  alert: "M12 2.8a9.2 9.2 0 1 0 0 18.4 9.2 9.2 0 0 0 0-18.4Zm1 13.7h-2v-2h2v2Zm0-4h-2V7h2v5.5Z",
};

// Links become clickable only for http(s) URLs (and www. names, opened over https).
const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?…)\]}»"'”’]+$/;
// Stay glued to the newest message when the visitor is at most this far above it.
const NEAR_BOTTOM_PX = 80;

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}

/** A safe href for a matched URL, or null (only http and https survive). */
export function safeHref(raw) {
  try {
    const url = new URL(/^www\./i.test(raw) ? `https://${raw}` : raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Append text to an element, with http(s) URLs as links that open in a new tab without an opener. */
export function appendRichText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let raw = match[0];
    const trailing = TRAILING.exec(raw);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const href = raw ? safeHref(raw) : null;
    if (!href) continue;
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const link = node("a", "link", raw);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    parent.append(link);
    last = match.index + raw.length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

export class ChatView {
  constructor(t, lang) {
    this.t = t;
    this.lang = lang;
    this.$ = (id) => document.getElementById(id);
    this.list = this.$("messages");
    this.log = this.$("log");
    this.input = this.$("input");
    this.sendButton = this.$("send");
    this.typingRow = this.$("typing");
    this.conn = this.$("conn");
    this.connTimer = null;
    this.connKind = "";
    this.typingTimer = null;
    this.toastTimer = null;
    this.timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
    this.dateFormat = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" });
    this.fullFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    // Whether the visitor is reading the newest messages; kept when banners or the input change size.
    this.stuck = true;
    this.log.addEventListener("scroll", () => (this.stuck = this.nearBottom()), { passive: true });
    if (window.ResizeObserver) {
      new ResizeObserver(() => this.stuck && this.scrollToEnd()).observe(this.log);
    }
  }

  /** Static labels, the title and the layout. */
  setup({ name, layout, maxLength, color }) {
    const t = this.t;
    const title = name || t("chat");
    document.title = title;
    this.$("app").dataset.layout = layout;
    this.$("title").textContent = title;
    this.$("avatar-letter").textContent = initial(title);
    this.$("intro-letter").textContent = initial(title);
    this.$("intro-title").textContent = title;
    this.$("intro-text").textContent = t("intro");
    this.log.setAttribute("aria-label", t("messages"));
    this.$("input-label").textContent = t("inputLabel");
    this.input.placeholder = t("placeholder");
    if (maxLength) this.input.maxLength = maxLength;
    this.sendButton.setAttribute("aria-label", t("send"));
    this.sendButton.title = t("send");
    this.$("human-text").textContent = t("human");
    const close = this.$("close");
    close.setAttribute("aria-label", t("close"));
    close.title = t("close");
    close.hidden = layout !== "floating";
    const brand = this.$("brand");
    brand.textContent = `${t("powered")} `;
    brand.append(node("strong", "", "replyx"));
    if (color) {
      document.documentElement.style.setProperty("--accent", color);
      document.documentElement.style.setProperty("--accent-text", readableOn(color));
    }
  }

  nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
    this.stuck = true;
  }

  /** Run a DOM change, keeping the view at the newest message if it was there (or when forced). */
  keepingBottom(change, force = false) {
    const stick = force || this.stuck || this.nearBottom();
    const result = change();
    if (stick) this.scrollToEnd();
    return result;
  }

  formatTime(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return { short: "", full: "" };
    const today = new Date();
    const sameDay = when.toDateString() === today.toDateString();
    const short = sameDay
      ? this.timeFormat.format(when)
      : `${this.dateFormat.format(when)}, ${this.timeFormat.format(when)}`;
    return { short, full: this.fullFormat.format(when) };
  }

  /** Put a row where its seq belongs: after every shown row with a lower seq, before pending rows. */
  place(row, seq) {
    let anchor = null;
    for (let other = this.list.lastElementChild; other; other = other.previousElementSibling) {
      if (other === row) continue;
      const otherSeq = other.dataset.seq === undefined ? Infinity : Number(other.dataset.seq);
      if (otherSeq > seq) anchor = other;
      else break;
    }
    if (row.parentNode !== this.list || row.nextElementSibling !== anchor) this.list.insertBefore(row, anchor);
  }

  bubbleRow(mine, sender, label, text) {
    const row = node("li", `row ${mine ? "me" : "them"}`);
    row.dataset.sender = sender;
    if (!mine) row.append(node("span", "name", label));
    const bubble = node("div", "bubble");
    const body = node("span", "text");
    appendRichText(body, text);
    const meta = node("span", "meta");
    bubble.append(body, meta);
    row.append(bubble);
    if (mine) row.prepend(node("span", "sr-only", this.t("you")));
    return row;
  }

  setMeta(row, message, state) {
    const meta = row.querySelector(".meta");
    meta.replaceChildren();
    const time = node("time");
    if (message && message.created_at) {
      const { short, full } = this.formatTime(message.created_at);
      time.dateTime = message.created_at;
      time.textContent = short;
      time.title = full;
    }
    meta.append(time);
    if (row.classList.contains("me")) {
      const mark = node("span", "mark");
      const names = { pending: "clock", sent: "check", seen: "checks", failed: "alert" };
      const labels = { pending: this.t("pending"), sent: this.t("sent"), seen: this.t("seen"), failed: this.t("failed") };
      mark.append(icon(names[state]), node("span", "sr-only", labels[state]));
      meta.append(mark);
    }
  }

  /** A stored message from the server. */
  message(message, label, seen) {
    if (this.list.querySelector(`li[data-seq="${message.seq}"]:not(.placeholder)`)) return;
    this.keepingBottom(() => {
      const mine = message.sender === "user";
      const row = this.bubbleRow(mine, message.sender, label, message.text);
      row.dataset.seq = String(message.seq);
      this.setMeta(row, message, seen ? "seen" : "sent");
      this.place(row, message.seq);
    });
  }

  /** A fragment of an answer still being written (message_delta): grows a draft bubble, kept last. */
  draft(streamId, fragment, label) {
    this.drafts = this.drafts || new Map();
    this.keepingBottom(() => {
      let draft = this.drafts.get(streamId);
      if (!draft) {
        const row = this.bubbleRow(false, "assistant", label, "");
        row.dataset.stream = streamId;
        row.classList.add("draft");
        row.setAttribute("aria-busy", "true");
        this.list.append(row);
        draft = { row, text: "" };
        this.drafts.set(streamId, draft);
      }
      draft.text += fragment;
      const body = draft.row.querySelector(".text");
      body.replaceChildren();
      appendRichText(body, draft.text);
    });
  }

  /** Remove a draft: its stored message has arrived (or the answer was dropped). */
  dropDraft(streamId) {
    const draft = this.drafts && this.drafts.get(streamId);
    if (!draft) return;
    draft.row.remove();
    this.drafts.delete(streamId);
  }

  /** Remove every draft, when the dialog left the assistant. */
  dropDrafts() {
    for (const streamId of [...(this.drafts || new Map()).keys()]) this.dropDraft(streamId);
  }

  /** A system notice (handoff, closing), centered. */
  notice(message, text) {
    if (this.list.querySelector(`li[data-seq="${message.seq}"]`)) return;
    this.keepingBottom(() => {
      const row = node("li", "row system");
      row.dataset.seq = String(message.seq);
      row.dataset.sender = "system";
      row.append(node("span", "pill", text));
      this.place(row, message.seq);
    });
  }

  /** The assistant's greeting shown before the dialog exists (replaced by the stored one). */
  placeholderGreeting(text, label) {
    this.dropPlaceholder();
    if (!text || !text.trim()) return;
    const row = this.bubbleRow(false, "assistant", label, text);
    row.classList.add("placeholder");
    row.dataset.seq = "0";
    row.querySelector(".meta").remove();
    this.list.prepend(row);
  }

  dropPlaceholder() {
    for (const row of this.list.querySelectorAll(".placeholder")) row.remove();
  }

  /** The visitor's message shown at once, before the server has it. */
  pending(item, onRetry) {
    this.keepingBottom(() => {
      const row = this.bubbleRow(true, "user", "", item.text);
      row.classList.add("pending");
      row.dataset.clientId = item.clientId;
      this.setMeta(row, null, "pending");
      const retry = node("button", "retry", this.t("failed"));
      retry.type = "button";
      retry.addEventListener("click", () => onRetry(item.clientId));
      row.append(retry);
      this.list.append(row);
    }, true);
  }

  pendingRow(clientId) {
    for (const row of this.list.querySelectorAll("li.pending")) if (row.dataset.clientId === clientId) return row;
    return null;
  }

  /** The server's echo replaces the pending bubble in place. */
  confirm(clientId, message, seen) {
    const row = this.pendingRow(clientId);
    if (!row) return this.message(message, "", seen);
    this.keepingBottom(() => {
      row.classList.remove("pending", "failed");
      row.querySelector(".retry")?.remove();
      row.dataset.seq = String(message.seq);
      this.setMeta(row, message, seen ? "seen" : "sent");
      this.place(row, message.seq);
    });
  }

  setPendingState(clientId, failed) {
    const row = this.pendingRow(clientId);
    if (!row) return;
    row.classList.toggle("failed", failed);
    this.setMeta(row, null, failed ? "failed" : "pending");
  }

  /** Mark the visitor's messages up to seq as read by the operator. */
  markSeen(seq) {
    for (const row of this.list.querySelectorAll("li.me[data-seq]:not(.seen)")) {
      if (Number(row.dataset.seq) <= seq) {
        row.classList.add("seen");
        const mark = row.querySelector(".mark");
        if (mark) mark.replaceChildren(icon("checks"), node("span", "sr-only", this.t("seen")));
      }
    }
  }

  clear() {
    this.list.replaceChildren();
    this.hideTyping();
  }

  showTyping(who, autoHideMs) {
    clearTimeout(this.typingTimer);
    this.$("typing-text").textContent = this.t("typing", { who });
    this.keepingBottom(() => {
      this.typingRow.hidden = false;
    });
    this.typingTimer = setTimeout(() => this.hideTyping(), autoHideMs);
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    this.typingRow.hidden = true;
  }

  /** The header: who answers now, and the human button only while the assistant does. */
  setStatus(status, operatorName, assistantName) {
    const t = this.t;
    const text = {
      ai: t("statusAi"),
      requested: t("statusRequested"),
      operator: t("statusOperator", { name: operatorName }),
      closed: t("statusClosed"),
      unavailable: t("statusUnavailable"),
    }[status];
    this.$("subtitle").textContent = text || t("statusAi");
    this.$("app").dataset.status = status;
    this.$("actions").hidden = status !== "ai";
    const face = status === "operator" && operatorName ? operatorName : assistantName || t("chat");
    this.$("avatar-letter").textContent = initial(face);
  }

  /** The quiet connection line under the header ("" hides it); shown after a short delay to avoid flicker. */
  setConnection(kind, delayMs = 0) {
    if (kind && kind === this.connKind) return;
    clearTimeout(this.connTimer);
    this.connKind = kind;
    if (!kind) {
      this.conn.classList.remove("show");
      this.conn.textContent = "";
      return;
    }
    const show = () => {
      this.conn.textContent = this.t(kind);
      this.conn.classList.add("show");
    };
    // A kind already on screen changes at once; a new trouble waits out the delay first.
    if (delayMs && !this.conn.classList.contains("show")) this.connTimer = setTimeout(show, delayMs);
    else show();
  }

  /** A blocking message in place of the composer, with an optional action button. */
  showNotice(text, action) {
    this.$("notice").hidden = false;
    this.$("notice-text").textContent = text;
    const button = this.$("notice-action");
    button.hidden = !action;
    button.onclick = null;
    if (action) {
      button.textContent = action.label;
      button.onclick = action.run;
    }
    this.$("composer").hidden = true;
    this.$("actions").hidden = true;
  }

  hideNotice() {
    this.$("notice").hidden = true;
    this.$("composer").hidden = false;
  }

  /** A short message above the composer that goes away by itself. */
  toast(text) {
    let toast = this.$("toast");
    if (!toast) {
      toast = node("div", "toast");
      toast.id = "toast";
      toast.setAttribute("role", "status");
      this.$("composer").before(toast);
    }
    toast.textContent = text;
    toast.classList.add("show");
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => toast.classList.remove("show"), 5000);
  }

  /** Grow the input with its text, up to a few lines. */
  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 132)}px`;
    this.sendButton.disabled = !this.input.value.trim();
  }
}

function initial(name) {
  return Array.from(name.trim())[0]?.toUpperCase() || "?";
}

function readableOn(hex) {
  let h = hex.slice(1);
  if (h.length === 3) h = h.replace(/./g, "$&$&");
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(h.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? "#111" : "#fff";
}
