// The inbox: every dialog of the owner, kept live by the inbox socket and re-synced over
// REST whenever that socket (re)connects, plus the list pane that shows it.

import { CLOSE } from "../shared/closecodes.js";
import { LiveSocket } from "../shared/socket.js";
import { get, socketUrl } from "./api.js";
import { h, icon, replace } from "./dom.js";
import { avatarFor, preview, shortTime, visitorName } from "./format.js";
import { noticeText, t } from "./i18n.js";
import { session } from "./session.js";

export const FILTERS = ["active", "requested", "ai", "operator", "closed"];
const FILTER_KEY = "replyx.filter";

/** Dialog summaries by id, updated from inbox events. */
export class InboxStore {
  constructor() {
    this.dialogs = new Map();
    this.assistants = new Map();
    this.listeners = new Set();
    this.connection = { state: "connecting" };
    this.activeId = null;
    this.loaded = false;
    this.syncing = null;
    this.held = [];
    this.fetching = new Map(); // dialog id -> events that arrived while its summary was fetched
    this.socket = new LiveSocket({
      url: () => socketUrl("/ws/dialogs", { token: session.token || "" }),
      onEvent: (event) => this.onEvent(event),
      onState: (state) => {
        this.connection = state;
        if (state.state === "stopped" && state.code === CLOSE.UNAUTHORIZED) session.expire("expired");
        this.emit();
      },
    });
  }

  start() {
    this.socket.start();
    this.loadAssistants();
  }

  stop() {
    this.socket.stop();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this);
  }

  async loadAssistants() {
    try {
      const list = await get("/api/assistants");
      this.assistants = new Map(list.map((a) => [a.id, a.name]));
      this.emit();
    } catch {
      /* names are decoration; the list works without them */
    }
  }

  assistantName(id) {
    return this.assistants.get(id) || `#${id}`;
  }

  /** Fetch every summary again; events that arrive meanwhile are applied on top. */
  async resync() {
    if (this.syncing) return this.syncing;
    this.held = [];
    this.syncing = (async () => {
      try {
        const list = await get("/api/dialogs");
        this.dialogs = new Map(list.map((d) => [d.id, d]));
        this.loaded = true;
      } catch {
        /* keep what we have; the next reconnect tries again */
      } finally {
        const held = this.held;
        this.syncing = null;
        this.held = [];
        for (const event of held) this.apply(event);
        this.emit();
      }
    })();
    return this.syncing;
  }

  onEvent(event) {
    if (event.type === "ready") {
      this.resync();
      return;
    }
    if (this.syncing) {
      this.held.push(event);
      return;
    }
    this.apply(event);
    this.emit();
  }

  apply(event) {
    const id = event.dialog_id;
    if (id === null || id === undefined) return;
    const dialog = this.dialogs.get(id);
    if (!dialog) {
      if (this.fetching.has(id)) this.fetching.get(id).push(event);
      else if (event.type === "message" || event.type === "status") this.fetchOne(id);
      return;
    }
    if (event.type === "message") {
      const m = event.message;
      if (m.seq <= (dialog.last_message ? dialog.last_message.seq : 0)) return;
      dialog.last_message = { seq: m.seq, sender: m.sender, text: m.text, created_at: m.created_at, notice: m.notice, args: m.args };
      dialog.last_seq = Math.max(dialog.last_seq, m.seq);
      dialog.updated_at = m.created_at;
      dialog.unread = Math.max(0, dialog.last_seq - dialog.operator_read_seq);
    } else if (event.type === "status") {
      dialog.status = event.status;
      dialog.operator = event.operator;
    } else if (event.type === "read") {
      if (event.reader === "operator") {
        dialog.operator_read_seq = Math.max(dialog.operator_read_seq, event.seq);
        dialog.unread = Math.max(0, dialog.last_seq - dialog.operator_read_seq);
      } else {
        dialog.visitor_read_seq = Math.max(dialog.visitor_read_seq, event.seq);
      }
    }
  }

  async fetchOne(id) {
    if (this.fetching.has(id)) return;
    this.fetching.set(id, []);
    try {
      const dialog = await get(`/api/dialogs/${id}`);
      this.dialogs.set(id, dialog);
      for (const event of this.fetching.get(id) || []) this.apply(event);
      if (!this.assistants.has(dialog.assistant_id)) this.loadAssistants();
      this.emit();
    } catch {
      /* the next resync brings it */
    } finally {
      this.fetching.delete(id);
    }
  }

  /** Put a summary fetched elsewhere (the dialog view) into the store. */
  put(dialog) {
    const known = this.dialogs.get(dialog.id);
    if (!known || (dialog.last_seq || 0) >= (known.last_seq || 0)) this.dialogs.set(dialog.id, dialog);
    this.emit();
  }

  setActive(id) {
    this.activeId = id;
    this.emit();
  }

  unread(dialog) {
    return dialog.id === this.activeId ? 0 : dialog.unread;
  }

  counts() {
    const counts = { active: 0, requested: 0, ai: 0, operator: 0, closed: 0 };
    for (const d of this.dialogs.values()) {
      counts[d.status] = (counts[d.status] || 0) + 1;
      if (d.status !== "closed") counts.active += 1;
    }
    return counts;
  }

  /** Waiting dialogs first, then newest activity first. */
  list(filter, query) {
    const needle = (query || "").trim().toLowerCase();
    const rows = [...this.dialogs.values()].filter((d) => {
      if (filter === "active" ? d.status === "closed" : d.status !== filter) return false;
      if (!needle) return true;
      const haystack = [visitorName(d.guest_id), d.guest_id, String(d.id), d.last_message?.text || "", this.assistantName(d.assistant_id)];
      return haystack.join(" ").toLowerCase().includes(needle);
    });
    return rows.sort((a, b) => {
      const waiting = (b.status === "requested") - (a.status === "requested");
      return waiting || (Date.parse(b.updated_at) || 0) - (Date.parse(a.updated_at) || 0) || b.id - a.id;
    });
  }
}

/** The middle-left pane: filters, search and the dialog list. */
export class InboxList {
  constructor(store) {
    this.store = store;
    this.filter = localStorage.getItem(FILTER_KEY) || "active";
    if (!FILTERS.includes(this.filter)) this.filter = "active";
    this.query = "";
    this.search = h("input", {
      type: "search",
      class: "search-input",
      "aria-label": t("inbox.search"),
      placeholder: t("inbox.search"),
      oninput: () => {
        this.query = this.search.value;
        this.render();
      },
    });
    this.tabs = h("div", { class: "filters", role: "tablist", "aria-label": t("inbox.filters") });
    this.items = h("ul", { class: "dialog-list", "aria-label": t("inbox.title") });
    this.empty = h("div", { class: "list-empty" });
    this.status = h("span", { class: "live-dot" });
    this.el = h(
      "section",
      { class: "pane list-pane", "aria-label": t("inbox.title") },
      h("header", { class: "pane-head" }, h("h1", {}, t("inbox.title")), this.status),
      h("div", { class: "search" }, icon("search", 16), this.search),
      this.tabs,
      h("div", { class: "list-scroll" }, this.items, this.empty),
    );
    this.unsubscribe = store.subscribe(() => this.render());
    this.clock = setInterval(() => this.render(), 30000);
    this.render();
  }

  destroy() {
    this.unsubscribe();
    clearInterval(this.clock);
  }

  setFilter(filter) {
    this.filter = filter;
    localStorage.setItem(FILTER_KEY, filter);
    this.render();
  }

  render() {
    const store = this.store;
    const counts = store.counts();
    renderConnection(this.status, store.connection);
    replace(
      this.tabs,
      FILTERS.map((f) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            class: `filter filter-${f}${f === this.filter ? " selected" : ""}`,
            "aria-selected": String(f === this.filter),
            dataset: { filter: f },
            onclick: () => this.setFilter(f),
          },
          t(`filter.${f}`),
          h("span", { class: "count" }, String(counts[f] || 0)),
        ),
      ),
    );
    const rows = store.list(this.filter, this.query);
    const scroller = this.items.parentElement;
    const top = scroller ? scroller.scrollTop : 0;
    const focused = this.items.contains(document.activeElement) ? document.activeElement.dataset.dialogId : null;
    replace(this.items, rows.map((d) => this.row(d)));
    if (scroller) scroller.scrollTop = top;
    if (focused) this.items.querySelector(`[data-dialog-id="${focused}"]`)?.focus();
    this.empty.hidden = rows.length > 0;
    replace(this.empty, store.loaded ? t(this.query ? "inbox.no_match" : `inbox.empty.${this.filter}`) : t("loading"));
  }

  row(d) {
    const avatar = avatarFor(d.guest_id);
    const unread = this.store.unread(d);
    const last = d.last_message;
    const who = last ? senderPrefix(last.sender) : "";
    const classes = ["dialog-item", `status-${d.status}`];
    if (d.id === this.store.activeId) classes.push("active");
    if (unread > 0) classes.push("has-unread");
    return h(
      "li",
      {},
      h(
        "a",
        {
          href: `#/inbox/${d.id}`,
          class: classes.join(" "),
          dataset: { dialogId: String(d.id), status: d.status },
          "aria-current": d.id === this.store.activeId ? "page" : null,
        },
        h("span", { class: "avatar", style: `--hue:${avatar.hue}` }, avatar.initials),
        h(
          "span",
          { class: "item-main" },
          h(
            "span",
            { class: "item-top" },
            h("span", { class: "item-name" }, visitorName(d.guest_id)),
            h("time", { class: "item-time", datetime: d.updated_at }, shortTime(d.updated_at)),
          ),
          h(
            "span",
            { class: `item-preview${last && last.sender === "system" ? " preview-system" : ""}` },
            who ? h("span", { class: "preview-who" }, who) : null,
            h("span", { class: "preview-text" }, last ? preview(last.sender === "system" ? noticeText(last) : last.text) : t("inbox.no_messages")),
          ),
          h(
            "span",
            { class: "item-bottom" },
            statusChip(d.status),
            h("span", { class: "item-holder" }, holderShort(d)),
            unread > 0 ? h("span", { class: "unread", "aria-label": t("inbox.unread", { n: unread }) }, String(unread)) : null,
          ),
        ),
      ),
    );
  }
}

function senderPrefix(sender) {
  if (sender === "operator") return `${t("sender.operator")}: `;
  if (sender === "assistant") return `${t("sender.assistant")}: `;
  if (sender === "system") return "";
  return "";
}

function holderShort(d) {
  if (d.status === "operator" && d.operator) {
    return session.me && d.operator.id === session.me.id ? t("holder.you_short") : d.operator.name || "";
  }
  return "";
}

/** A colored pill naming a status. */
export function statusChip(status) {
  return h("span", { class: `chip chip-${status}`, dataset: { status } }, t(`status.${status}`));
}

/** Fill a connection indicator from a LiveSocket state (idle: stopped by the panel itself). */
export function renderConnection(el, connection) {
  const state = connection.state === "idle" ? "stopped" : connection.state;
  el.className = `live-dot live-${state}`;
  let label = t("conn.live");
  if (state === "connecting") label = t("conn.connecting");
  else if (state === "retrying") label = t("conn.retrying", { s: Math.max(1, Math.round((connection.retryIn || 0) / 1000)) });
  else if (state === "stopped") label = t("conn.offline");
  el.title = label;
  replace(el, h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "live-label" }, label));
}
