// The inbox's list pane (filters, search, one row per dialog) over the InboxStore (inbox-store.js).

import { h, icon, replace, toast } from "./dom.js";
import { avatarFor, preview, shortTime, visitorName } from "./format.js";
import { noticeText, t } from "./i18n.js";
import { session } from "./session.js";

export const FILTERS = ["active", "requested", "ai", "operator", "closed"];
const FILTER_KEY = "replyx.filter";

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
    // The list comes in pages (inbox-store.js): more of it on request, after the last row.
    this.moreBtn = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "load-more" }, onclick: () => this.loadMore() }, t("inbox.more"));
    this.more = h("div", { class: "list-more", hidden: true }, this.moreBtn);
    this.status = h("span", { class: "live-dot" });
    this.el = h(
      "section",
      { class: "pane list-pane", "aria-label": t("inbox.title") },
      h("header", { class: "pane-head" }, h("h1", {}, t("inbox.title")), this.status),
      h("div", { class: "search" }, icon("search", 16), this.search),
      this.tabs,
      h("div", { class: "list-scroll" }, this.items, this.empty, this.more),
    );
    this.unsubscribe = store.subscribe(() => this.render());
    this.clock = setInterval(() => this.render(), 30000);
    this.render();
  }

  destroy() {
    this.unsubscribe();
    clearInterval(this.clock);
  }

  async loadMore() {
    this.moreBtn.disabled = true;
    replace(this.moreBtn, t("loading"));
    const read = await this.store.loadMore();
    if (!read) toast(t("inbox.more_failed"), "error");
    this.moreBtn.disabled = false;
    replace(this.moreBtn, t("inbox.more"));
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
    let empty = t("loading");
    if (store.loaded && store.more) empty = t("inbox.none_loaded");
    else if (store.loaded) empty = t(this.query ? "inbox.no_match" : `inbox.empty.${this.filter}`);
    replace(this.empty, empty);
    this.more.hidden = !(store.loaded && store.more);
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
