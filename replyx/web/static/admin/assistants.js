// Assistants: the list, the editor (name, greeting, domains, FAQ, knowledge) and the
// install card (site token, rotation, embed snippet with a copy button).

import { ApiError, get, patch, post } from "./api.js";
import { h, icon, replace, toast } from "./dom.js";
import { fullTime } from "./format.js";
import { t } from "./i18n.js";

// A rotate button asks once more; the confirmation expires after this long.
const CONFIRM_MS = 4000;
const DOMAIN_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i;

/** Copy text to the clipboard, with a fallback for pages without the async clipboard. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

export class AssistantsPage {
  constructor({ selected, store }) {
    this.selected = selected; // "new", an id, or null
    this.store = store;
    this.assistants = [];
    this.listEl = h("ul", { class: "assistant-list" });
    this.editorEl = h("section", { class: "pane editor-pane", "aria-label": t("assistants.editor") });
    this.el = h(
      "div",
      { class: "page assistants-page" },
      h(
        "section",
        { class: "pane list-pane", "aria-label": t("assistants.title") },
        h(
          "header",
          { class: "pane-head" },
          h("h1", {}, t("assistants.title")),
          h("a", { href: "#/assistants/new", class: "btn btn-primary btn-sm", dataset: { action: "new-assistant" } }, icon("plus", 16), h("span", {}, t("assistants.new"))),
        ),
        h("div", { class: "list-scroll" }, this.listEl),
      ),
      this.editorEl,
    );
  }

  async start() {
    await this.load();
    this.renderEditor();
  }

  destroy() {}

  async load() {
    try {
      this.assistants = await get("/api/assistants");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) toast(error.detail || error.message, "error");
    }
    this.store.assistants = new Map(this.assistants.map((a) => [a.id, a.name]));
    if (this.selected === null && this.assistants.length) this.selected = this.assistants[0].id;
    this.renderList();
  }

  renderList() {
    replace(
      this.listEl,
      this.assistants.map((a) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#/assistants/${a.id}`,
              class: `assistant-item${a.id === this.selected ? " active" : ""}`,
              "aria-current": a.id === this.selected ? "page" : null,
              dataset: { assistantId: String(a.id) },
            },
            h("span", { class: "assistant-icon" }, icon("bot", 18)),
            h(
              "span",
              { class: "item-main" },
              h("span", { class: "item-name" }, a.name),
              h(
                "span",
                { class: "item-preview" },
                t("assistants.summary", { faq: a.faq.length, domains: a.allowed_domains.length }),
              ),
            ),
          ),
        ),
      ),
    );
    if (!this.assistants.length) {
      this.listEl.append(h("li", { class: "list-empty" }, t("assistants.empty")));
    }
  }

  renderEditor() {
    if (this.selected === "new") {
      this.form = new AssistantForm(null, (saved) => this.saved(saved));
      replace(this.editorEl, this.form.el);
      this.form.focus();
      return;
    }
    const assistant = this.assistants.find((a) => a.id === this.selected);
    if (!assistant) {
      replace(
        this.editorEl,
        h(
          "div",
          { class: "none-card" },
          icon("bot", 40),
          h("h2", {}, t("assistants.none_title")),
          h("p", {}, t("assistants.none_text")),
          h("a", { href: "#/assistants/new", class: "btn btn-primary" }, icon("plus", 16), h("span", {}, t("assistants.new"))),
        ),
      );
      return;
    }
    this.form = new AssistantForm(assistant, (saved) => this.saved(saved));
    replace(this.editorEl, this.form.el);
  }

  saved(assistant) {
    const index = this.assistants.findIndex((a) => a.id === assistant.id);
    if (index >= 0) this.assistants[index] = assistant;
    else this.assistants.push(assistant);
    this.store.assistants.set(assistant.id, assistant.name);
    this.selected = assistant.id;
    this.renderList();
    if (location.hash !== `#/assistants/${assistant.id}`) location.hash = `#/assistants/${assistant.id}`;
  }
}

/** The editor of one assistant (or of a new one when `assistant` is null). */
class AssistantForm {
  constructor(assistant, onSaved) {
    this.assistant = assistant;
    this.onSaved = onSaved;
    this.domains = assistant ? [...assistant.allowed_domains] : [];
    this.name = h("input", { id: "a-name", name: "name", required: true, maxlength: "200", value: assistant ? assistant.name : "", autocomplete: "off" });
    this.greeting = h("textarea", { id: "a-greeting", name: "greeting", rows: "2", maxlength: "2000" });
    this.greeting.value = assistant ? assistant.greeting : "";
    this.knowledge = h("textarea", { id: "a-knowledge", name: "knowledge", rows: "6", class: "mono-soft" });
    this.knowledge.value = assistant ? assistant.knowledge : "";
    this.instructions = h("textarea", { id: "a-instructions", name: "instructions", rows: "3" });
    this.instructions.value = assistant ? assistant.instructions : "";
    this.model = h("input", { id: "a-model", name: "llm_model", value: assistant ? assistant.llm_model : "", autocomplete: "off" });
    this.domainInput = h("input", {
      id: "a-domains",
      name: "domain",
      placeholder: t("form.domains_placeholder"),
      autocomplete: "off",
      onkeydown: (event) => this.onDomainKey(event),
      onblur: () => this.addDomain(),
    });
    this.chips = h("div", { class: "chips" });
    this.faqList = h("div", { class: "faq-list" });
    this.faqEmpty = h("p", { class: "faq-empty" }, t("form.faq_empty"));
    this.dirtyEl = h("span", { class: "dirty", hidden: true }, t("form.dirty"));
    this.errorEl = h("div", { class: "form-error", role: "alert", hidden: true });
    this.saveBtn = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "save" } }, t(assistant ? "form.save" : "form.create"));
    for (const entry of assistant ? assistant.faq : []) this.addFaq(entry);
    this.renderChips();
    this.syncFaqEmpty();
    const field = (id, label, control, help) =>
      h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("p", { class: "help" }, help) : null);
    this.form = h(
      "form",
      {
        class: "editor-form",
        novalidate: true,
        onsubmit: (event) => this.submit(event),
        oninput: () => this.markDirty(true),
      },
      h(
        "section",
        { class: "card" },
        h("h3", {}, t("form.basics")),
        field("a-name", t("form.name"), this.name),
        field("a-greeting", t("form.greeting"), this.greeting, t("form.greeting_help")),
        h(
          "div",
          { class: "field" },
          h("label", { for: "a-domains" }, t("form.domains")),
          h("div", { class: "chip-input", onclick: () => this.domainInput.focus() }, this.chips, this.domainInput),
          h("p", { class: "help" }, t("form.domains_help")),
        ),
      ),
      h(
        "section",
        { class: "card" },
        h(
          "div",
          { class: "card-head" },
          h("h3", {}, t("form.faq")),
          h("button", { type: "button", class: "btn btn-sm", dataset: { action: "add-faq" }, onclick: () => this.addFaq(null, true) }, icon("plus", 14), h("span", {}, t("form.faq_add"))),
        ),
        h("p", { class: "help" }, t("form.faq_help")),
        this.faqEmpty,
        this.faqList,
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, t("form.knowledge")),
        field("a-knowledge", t("form.knowledge_label"), this.knowledge, t("form.knowledge_help")),
        h(
          "details",
          { class: "advanced" },
          h("summary", {}, t("form.advanced")),
          field("a-instructions", t("form.instructions"), this.instructions, t("form.instructions_help")),
          field("a-model", t("form.model"), this.model, t("form.model_help")),
        ),
      ),
      this.errorEl,
      h(
        "div",
        { class: "form-actions" },
        this.saveBtn,
        this.dirtyEl,
        assistant ? h("span", { class: "muted created" }, t("form.created", { when: fullTime(assistant.created_at) })) : null,
      ),
    );
    this.installEl = h("aside", { class: "install" });
    this.el = h(
      "div",
      { class: "editor" },
      h(
        "header",
        { class: "editor-head" },
        h("h2", {}, assistant ? assistant.name : t("assistants.new_title")),
        assistant ? h("span", { class: "muted mono" }, `id ${assistant.id}`) : null,
      ),
      h("div", { class: "editor-grid" }, this.form, this.installEl),
    );
    this.renderInstall();
  }

  markDirty(dirty) {
    this.dirtyEl.hidden = !dirty;
  }

  syncFaqEmpty() {
    this.faqEmpty.hidden = this.faqList.children.length > 0;
  }

  focus() {
    requestAnimationFrame(() => this.name.focus());
  }

  onDomainKey(event) {
    if (event.key === "Enter" || event.key === "," || event.key === " ") {
      event.preventDefault();
      this.addDomain();
    } else if (event.key === "Backspace" && !this.domainInput.value && this.domains.length) {
      this.domains.pop();
      this.renderChips();
    }
  }

  addDomain() {
    let value = this.domainInput.value.trim().toLowerCase();
    value = value.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    if (!value) return;
    if (!DOMAIN_RE.test(value)) {
      this.showError(t("form.domain_invalid", { domain: value }));
      return;
    }
    if (!this.domains.includes(value)) {
      this.domains.push(value);
      this.markDirty(true);
    }
    this.domainInput.value = "";
    this.showError("");
    this.renderChips();
  }

  renderChips() {
    replace(
      this.chips,
      this.domains.map((domain) =>
        h(
          "span",
          { class: "chip chip-domain", dataset: { domain } },
          icon("globe", 12),
          h("span", {}, domain),
          h(
            "button",
            {
              type: "button",
              class: "chip-x",
              "aria-label": t("form.domain_remove", { domain }),
              onclick: () => {
                this.domains = this.domains.filter((d) => d !== domain);
                this.markDirty(true);
                this.renderChips();
              },
            },
            icon("x", 12),
          ),
        ),
      ),
    );
  }

  addFaq(entry, focus = false) {
    const question = h("input", { class: "faq-q", placeholder: t("form.faq_question"), "aria-label": t("form.faq_question"), value: entry ? entry.question : "", maxlength: "1000" });
    const answer = h("textarea", { class: "faq-a", rows: "2", placeholder: t("form.faq_answer"), "aria-label": t("form.faq_answer"), maxlength: "8000" });
    answer.value = entry ? entry.answer : "";
    const row = h(
      "div",
      { class: "faq-row" },
      h("div", { class: "faq-fields" }, question, answer),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-icon btn-quiet",
          "aria-label": t("form.faq_remove"),
          title: t("form.faq_remove"),
          onclick: () => {
            row.remove();
            this.syncFaqEmpty();
            this.markDirty(true);
          },
        },
        icon("trash", 16),
      ),
    );
    this.faqList.append(row);
    this.syncFaqEmpty();
    if (focus) this.markDirty(true);
    if (focus) question.focus();
  }

  values() {
    this.addDomain();
    const faq = [...this.faqList.querySelectorAll(".faq-row")]
      .map((row) => ({ question: row.querySelector(".faq-q").value.trim(), answer: row.querySelector(".faq-a").value.trim() }))
      .filter((e) => e.question || e.answer);
    return {
      name: this.name.value.trim(),
      greeting: this.greeting.value,
      allowed_domains: this.domains,
      faq,
      knowledge: this.knowledge.value,
      instructions: this.instructions.value,
      llm_model: this.model.value.trim(),
    };
  }

  showError(text) {
    this.errorEl.hidden = !text;
    replace(this.errorEl, text);
  }

  async submit(event) {
    event.preventDefault();
    const body = this.values();
    if (!body.name) {
      this.showError(t("form.name_required"));
      this.name.focus();
      return;
    }
    if (body.faq.some((e) => !e.question || !e.answer)) {
      this.showError(t("form.faq_incomplete"));
      return;
    }
    this.showError("");
    this.saveBtn.disabled = true;
    try {
      const saved = this.assistant ? await patch(`/api/assistants/${this.assistant.id}`, body) : await post("/api/assistants", body);
      toast(t(this.assistant ? "form.saved" : "form.created_toast"), "success");
      this.markDirty(false);
      this.onSaved(saved);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) this.showError(error.detail || error.message);
    } finally {
      this.saveBtn.disabled = false;
    }
  }

  async renderInstall() {
    if (!this.assistant) {
      replace(this.installEl, h("section", { class: "card" }, h("h3", {}, t("install.title")), h("p", { class: "help" }, t("install.after_create"))));
      return;
    }
    const a = this.assistant;
    const code = h("code", { class: "embed-code" });
    const token = h("code", { class: "token" }, a.site_token);
    const copyBtn = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "copy-embed" } }, icon("copy", 14), h("span", {}, t("install.copy")));
    copyBtn.addEventListener("click", async () => {
      const ok = await copyText(code.textContent);
      replace(copyBtn, icon(ok ? "check" : "alert", 14), h("span", {}, t(ok ? "install.copied" : "install.copy_failed")));
      setTimeout(() => replace(copyBtn, icon("copy", 14), h("span", {}, t("install.copy"))), 2000);
    });
    const rotateBtn = h("button", { type: "button", class: "btn btn-sm btn-danger-quiet", dataset: { action: "rotate" } }, icon("refresh", 14), h("span", {}, t("install.rotate")));
    let armed = null;
    rotateBtn.addEventListener("click", async () => {
      if (!armed) {
        replace(rotateBtn, icon("alert", 14), h("span", {}, t("install.rotate_confirm")));
        rotateBtn.classList.add("armed");
        armed = setTimeout(() => {
          armed = null;
          rotateBtn.classList.remove("armed");
          replace(rotateBtn, icon("refresh", 14), h("span", {}, t("install.rotate")));
        }, CONFIRM_MS);
        return;
      }
      clearTimeout(armed);
      armed = null;
      rotateBtn.disabled = true;
      try {
        this.assistant = await post(`/api/assistants/${a.id}/rotate-token`);
        toast(t("install.rotated"), "success");
        this.onSaved(this.assistant);
        this.renderInstall();
      } catch (error) {
        toast(error.detail || error.message, "error");
        rotateBtn.disabled = false;
      }
    });
    replace(
      this.installEl,
      h(
        "section",
        { class: "card" },
        h("div", { class: "card-head" }, h("h3", {}, t("install.title")), copyBtn),
        h("p", { class: "help" }, t("install.help")),
        h("pre", { class: "code-block" }, code),
      ),
      h(
        "section",
        { class: "card" },
        h("div", { class: "card-head" }, h("h3", {}, t("install.token")), rotateBtn),
        h("p", { class: "help" }, t("install.token_help")),
        h("pre", { class: "code-block token-block" }, token),
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, t("install.domains")),
        a.allowed_domains.length
          ? h("ul", { class: "domain-list" }, a.allowed_domains.map((d) => h("li", {}, icon("globe", 14), h("span", {}, d))))
          : h("p", { class: "help warn" }, t("install.no_domains")),
      ),
    );
    try {
      const data = await get(`/api/assistants/${a.id}/embed-code`);
      code.textContent = data.embed_code;
    } catch (error) {
      code.textContent = error.detail || error.message;
    }
  }
}
