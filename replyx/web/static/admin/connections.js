// Connections: cluster-wide socket figures from GET /api/ws/stats, per node, per pool and
// per dialog, refreshed every few seconds. The page to open when "messages are not arriving".

import { ApiError, get } from "./api.js";
import { h, icon, replace } from "./dom.js";
import { visitorName } from "./format.js";
import { t } from "./i18n.js";
import { statusChip } from "./inbox.js";

// Nodes publish their figures every 2 s; polling at the same pace shows changes promptly.
const REFRESH_MS = 2000;
const POOLS = ["admin", "site", "widget", "inbox"];

export class ConnectionsPage {
  constructor({ store }) {
    this.store = store;
    this.timer = null;
    this.paused = false;
    this.updatedEl = h("span", { class: "muted updated" });
    this.pauseBtn = h("button", { type: "button", class: "btn btn-sm", onclick: () => this.togglePause() }, t("conn_page.pause"));
    this.body = h("div", { class: "conn-body" }, h("p", { class: "muted" }, t("loading")));
    this.el = h(
      "div",
      { class: "page connections-page" },
      h(
        "section",
        { class: "pane wide-pane", "aria-label": t("conn_page.title") },
        h(
          "header",
          { class: "pane-head" },
          h("h1", {}, t("conn_page.title")),
          h("div", { class: "head-tools" }, this.updatedEl, this.pauseBtn, h("button", { type: "button", class: "btn btn-sm", onclick: () => this.refresh() }, icon("refresh", 14), h("span", {}, t("conn_page.refresh")))),
        ),
        h("div", { class: "wide-scroll" }, this.body),
      ),
    );
  }

  start() {
    this.refresh();
  }

  destroy() {
    clearTimeout(this.timer);
    this.timer = null;
    this.destroyed = true;
  }

  togglePause() {
    this.paused = !this.paused;
    replace(this.pauseBtn, t(this.paused ? "conn_page.resume" : "conn_page.pause"));
    if (!this.paused) this.refresh();
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      const stats = await get("/api/ws/stats");
      if (this.destroyed) return;
      this.render(stats);
      replace(this.updatedEl, t("conn_page.updated", { time: new Date().toLocaleTimeString() }));
      this.updatedEl.classList.remove("stale");
    } catch (error) {
      if (this.destroyed || (error instanceof ApiError && error.status === 401)) return;
      replace(this.updatedEl, t("conn_page.failed", { detail: error.detail || error.message }));
      this.updatedEl.classList.add("stale");
    }
    if (!this.paused && !this.destroyed) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  render(stats) {
    const total = stats.total;
    const cards = h(
      "div",
      { class: "stat-cards" },
      statCard("total", t("conn_page.total"), total.connections, t("conn_page.total_help", { n: stats.nodes.length })),
      POOLS.map((pool) => statCard(pool, t(`pool.${pool}`), total.pools[pool] || 0, t(`pool.${pool}_help`))),
    );
    const nodes = h(
      "section",
      { class: "card" },
      h("h3", {}, icon("server", 16), h("span", {}, t("conn_page.nodes"))),
      h(
        "div",
        { class: "table-wrap" },
        h(
        "table",
        { class: "table nodes-table" },
        h("thead", {}, h("tr", {}, h("th", {}, t("conn_page.node")), h("th", {}, "PID"), POOLS.map((p) => h("th", { class: "num" }, t(`pool.${p}`))), h("th", { class: "num" }, t("conn_page.total")), h("th", {}, t("conn_page.broker")))),
        h(
          "tbody",
          {},
          stats.nodes.map((node) =>
            h(
              "tr",
              { dataset: { node: node.node_id } },
              h("td", { class: "mono" }, node.node_id, node.node_id === stats.node_id ? h("span", { class: "tag" }, t("conn_page.this_node")) : null),
              h("td", { class: "mono" }, String(node.pid ?? "—")),
              POOLS.map((p) => h("td", { class: "num", dataset: { pool: p } }, String(node.pools[p] || 0))),
              h("td", { class: "num strong" }, String(node.connections)),
              h("td", {}, h("span", { class: `state ${node.broker_connected ? "ok" : "bad"}` }, t(node.broker_connected ? "conn_page.broker_ok" : "conn_page.broker_down"))),
            ),
          ),
        ),
      ),
      ),
    );
    const ids = Object.keys(total.dialogs).sort((a, b) => Number(b) - Number(a));
    const dialogs = h(
      "section",
      { class: "card" },
      h("h3", {}, icon("chat", 16), h("span", {}, t("conn_page.dialogs"))),
      h("p", { class: "help" }, t("conn_page.dialogs_help")),
      ids.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
            "table",
            { class: "table dialogs-table" },
            h("thead", {}, h("tr", {}, h("th", {}, t("conn_page.dialog")), h("th", {}, t("details.status")), POOLS.filter((p) => p !== "inbox").map((p) => h("th", { class: "num" }, t(`pool.${p}`))), h("th", { class: "num" }, t("conn_page.total")), h("th", {}, t("conn_page.visitor_online")))),
            h("tbody", {}, ids.map((id) => this.dialogRow(id, total.dialogs[id]))),
          ),
          )
        : h("p", { class: "list-empty" }, t("conn_page.no_dialogs")),
    );
    replace(this.body, cards, nodes, dialogs);
  }

  dialogRow(id, counts) {
    const summary = this.store.dialogs.get(Number(id));
    const sum = Object.values(counts).reduce((a, b) => a + b, 0);
    const visitors = (counts.site || 0) + (counts.widget || 0);
    return h(
      "tr",
      { dataset: { dialog: id } },
      h("td", {}, h("a", { href: `#/inbox/${id}` }, `#${id}`), summary ? h("span", { class: "muted" }, ` · ${visitorName(summary.guest_id)}`) : null),
      h("td", {}, summary ? statusChip(summary.status) : "—"),
      ["admin", "site", "widget"].map((p) => h("td", { class: "num", dataset: { pool: p } }, String(counts[p] || 0))),
      h("td", { class: "num strong", dataset: { pool: "total" } }, String(sum)),
      h("td", {}, h("span", { class: `state ${visitors ? "ok" : "bad"}` }, t(visitors ? "conn_page.online" : "conn_page.offline"))),
    );
  }
}

function statCard(key, label, value, help) {
  return h(
    "div",
    { class: `stat-card stat-${key}`, dataset: { stat: key } },
    h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value" }, String(value)),
    h("div", { class: "stat-help" }, help),
  );
}
