// The operator's own account: who is logged in, changing the password, logging out everywhere.
//
// A password change ends every other session of the operator (their tokens answer 401, their
// sockets close with 4001) and answers with a fresh token for this tab; session.renew() keeps
// this tab's own sockets, closed with the old token, from reading that as a logout.

import { ApiError, get, post } from "./api.js";
import { cooldown } from "./cooldown.js";
import { h, icon, replace, toast } from "./dom.js";
import { avatarFor } from "./format.js";
import { t } from "./i18n.js";
import { session } from "./session.js";

// The server's rule for a new password (PasswordChangeIn): checked here first to say it plainly.
const MIN_PASSWORD = 8;

export class AccountPage {
  /** onLogout(): log out, as the rail's button does. */
  constructor({ onLogout }) {
    this.onLogout = onLogout;
    const me = session.me;
    const avatar = avatarFor(me.email);
    const input = (id, autocomplete) => h("input", { id, name: id, type: "password", autocomplete, required: true, maxlength: "1024" });
    this.current = input("pw-current", "current-password");
    this.next = input("pw-new", "new-password");
    this.again = input("pw-again", "new-password");
    this.errorEl = h("div", { class: "form-error", role: "alert", hidden: true });
    this.doneEl = h("div", { class: "form-ok", role: "status", hidden: true });
    this.submitBtn = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "change-password" } }, t("password.submit"));
    const field = (id, label, control, help) =>
      h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("p", { class: "help" }, help) : null);
    const avatarEl = h("span", { class: "avatar avatar-xl", style: `--hue:${avatar.hue}` }, (me.name || "?").slice(0, 2).toUpperCase());
    this.el = h(
      "div",
      { class: "page account-page" },
      h(
        "section",
        { class: "pane wide-pane", "aria-label": t("account.title") },
        h("header", { class: "pane-head" }, h("h1", {}, t("account.title"))),
        h(
          "div",
          { class: "wide-scroll" },
          h(
            "div",
            { class: "wide-body narrow" },
            h(
              "section",
              { class: "card profile" },
              avatarEl,
              h("div", {}, h("div", { class: "profile-name", dataset: { operator: me.name || "" } }, me.name || me.email), h("div", { class: "muted" }, me.email)),
            ),
            h(
              "section",
              { class: "card" },
              h("h3", {}, icon("lock", 16), h("span", {}, t("password.title"))),
              h("p", { class: "help" }, t("password.help")),
              h(
                "form",
                { class: "password-form", novalidate: true, onsubmit: (event) => this.submit(event) },
                // For password managers: the account the new password belongs to.
                h("input", { type: "email", name: "username", autocomplete: "username", value: me.email, hidden: true, readonly: true, tabindex: "-1" }),
                field("pw-current", t("password.current"), this.current),
                field("pw-new", t("password.new"), this.next, t("password.new_help", { n: MIN_PASSWORD })),
                field("pw-again", t("password.again"), this.again),
                this.errorEl,
                this.doneEl,
                h("div", { class: "card-actions" }, this.submitBtn),
              ),
            ),
            h(
              "section",
              { class: "card" },
              h("h3", {}, icon("logout", 16), h("span", {}, t("account.sessions"))),
              h("p", { class: "help" }, t("account.sessions_help")),
              h("div", { class: "card-actions" }, h("button", { type: "button", class: "btn", dataset: { action: "logout-everywhere" }, onclick: () => this.onLogout() }, icon("logout", 16), h("span", {}, t("nav.logout")))),
            ),
          ),
        ),
      ),
    );
  }

  start() {}

  destroy() {
    this.stopCooldown?.();
  }

  showError(text) {
    this.errorEl.hidden = !text;
    replace(this.errorEl, text || "");
    if (text) this.doneEl.hidden = true;
  }

  async submit(event) {
    event.preventDefault();
    this.showError("");
    this.doneEl.hidden = true;
    const current = this.current.value;
    const next = this.next.value;
    if (!current) return this.refuse(t("password.current_required"), this.current);
    if (next.length < MIN_PASSWORD) return this.refuse(t("password.too_short", { n: MIN_PASSWORD }), this.next);
    if (next !== this.again.value) return this.refuse(t("password.mismatch"), this.again);
    this.submitBtn.disabled = true;
    try {
      await session.renew(async () => (await post("/api/auth/password", { current_password: current, new_password: next })).access_token);
      for (const field of [this.current, this.next, this.again]) field.value = "";
      this.doneEl.hidden = false;
      replace(this.doneEl, icon("check", 16), h("span", {}, t("password.changed")));
      toast(t("password.changed_toast"), "success");
      this.submitBtn.disabled = false;
    } catch (error) {
      this.submitBtn.disabled = false;
      await this.failed(error);
    }
  }

  refuse(text, field) {
    this.showError(text);
    field.focus();
  }

  async failed(error) {
    const status = error instanceof ApiError ? error.status : 0;
    if (status === 401) {
      // Either the current password is wrong or this session has ended meanwhile: ask which
      // (a 401 here shows the login form).
      try {
        await get("/api/auth/me");
      } catch {
        return;
      }
      this.refuse(t("password.wrong_current"), this.current);
      this.current.select();
    } else if (status === 429 && error.retryAfter) {
      this.stopCooldown?.();
      this.stopCooldown = cooldown({
        button: this.submitBtn,
        message: this.errorEl,
        seconds: error.retryAfter,
        text: (s) => t("throttle.wait", { n: s }),
      });
    } else if (status === 429) {
      this.showError(t("throttle.later"));
    } else if (status === 422) {
      this.refuse(t("password.invalid", { n: MIN_PASSWORD }), this.next);
    } else {
      this.showError(t("password.failed", { detail: error.detail || error.message }));
    }
  }
}
