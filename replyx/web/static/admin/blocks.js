// Blocked visitors: the owner's blocked guest ids and addresses (GET /api/blocks), each with Unblock.
// A block is made from a conversation's details (conversation.js); here it is only seen and lifted.

import { ApiError, del, get } from "./api.js";
import { h, icon, replace, toast } from "./dom.js";
import { fullTime, visitorName } from "./format.js";
import { t } from "./i18n.js";
import { session } from "./session.js";

export class BlocksPage {
  constructor() {
    this.blocks = null; // null until read
    this.failed = null;
    this.body = h("div", { class: "wide-body" }, h("p", { class: "muted" }, t("loading")));
    this.el = h(
      "div",
      { class: "page blocks-page" },
      h(
        "section",
        { class: "pane wide-pane", "aria-label": t("blocks.title") },
        h(
          "header",
          { class: "pane-head" },
          h("h1", {}, t("blocks.title")),
          h("div", { class: "head-tools" }, h("button", { type: "button", class: "btn btn-sm", onclick: () => this.load() }, icon("refresh", 14), h("span", {}, t("conn_page.refresh")))),
        ),
        h("div", { class: "wide-scroll" }, this.body),
      ),
    );
  }

  start() {
    this.load();
  }

  destroy() {
    this.destroyed = true;
  }

  async load() {
    try {
      const blocks = await get("/api/blocks");
      if (this.destroyed) return;
      this.blocks = blocks;
      this.failed = null;
    } catch (error) {
      if (this.destroyed || (error instanceof ApiError && error.status === 401)) return;
      this.failed = error.detail || error.message;
    }
    this.render();
  }

  render() {
    const intro = h("p", { class: "help" }, t("blocks.help"));
    if (this.failed) {
      replace(this.body, h("section", { class: "card" }, intro, h("div", { class: "form-error", role: "alert" }, t("blocks.failed", { detail: this.failed }))));
      return;
    }
    const blocks = this.blocks || [];
    replace(
      this.body,
      h(
        "section",
        { class: "card" },
        h("h3", {}, icon("ban", 16), h("span", {}, t("blocks.title"))),
        intro,
        blocks.length
          ? h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                { class: "table blocks-table" },
                h(
                  "thead",
                  {},
                  h("tr", {}, h("th", {}, t("blocks.kind")), h("th", {}, t("blocks.value")), h("th", {}, t("blocks.by")), h("th", {}, t("blocks.when")), h("th", { class: "num" }, h("span", { class: "offscreen" }, t("blocks.actions")))),
                ),
                h("tbody", {}, blocks.map((block) => this.row(block))),
              ),
            )
          : h("p", { class: "list-empty" }, t("blocks.empty")),
      ),
    );
  }

  row(block) {
    const button = h(
      "button",
      { type: "button", class: "btn btn-sm", dataset: { action: "unblock" }, "aria-label": t("blocks.unblock_label", { value: block.value }) },
      icon("undo", 14),
      h("span", {}, t("blocks.unblock")),
    );
    button.addEventListener("click", () => this.unblock(block, button));
    const mine = session.me && block.operator_id === session.me.id;
    return h(
      "tr",
      { dataset: { blockId: String(block.id), kind: block.kind, value: block.value } },
      h("td", {}, h("span", { class: `kind kind-${block.kind}` }, t(`blocks.kind_${block.kind}`))),
      h(
        "td",
        { class: "block-value" },
        block.kind === "guest" ? h("div", { class: "strong" }, visitorName(block.value)) : null,
        h("div", { class: "mono" }, block.value),
      ),
      h("td", {}, block.operator_id === null ? "—" : mine ? t("holder.you_short") : t("blocks.operator", { id: block.operator_id })),
      h("td", {}, fullTime(block.created_at)),
      h("td", { class: "num" }, button),
    );
  }

  async unblock(block, button) {
    button.disabled = true;
    try {
      await del(`/api/blocks/${block.id}`);
    } catch (error) {
      // Lifted already (by a colleague): it is gone either way.
      if (!(error instanceof ApiError && error.status === 404)) {
        if (error.status !== 401) toast(error.detail || error.message, "error");
        button.disabled = false;
        return;
      }
    }
    if (this.destroyed) return;
    this.blocks = (this.blocks || []).filter((b) => b.id !== block.id);
    this.render();
    toast(t("blocks.unblocked", { value: block.kind === "guest" ? visitorName(block.value) : block.value }), "success");
  }
}
