// The operator panel: login, the navigation rail and a hash router over the pages.

import { AccountPage } from "./account.js";
import { ApiError, get, post } from "./api.js";
import { AssistantsPage } from "./assistants.js";
import { BlocksPage } from "./blocks.js";
import { ConnectionsPage } from "./connections.js";
import { cooldown } from "./cooldown.js";
import { emptyConversation } from "./conversation-view.js";
import { Conversation } from "./conversation.js";
import { h, icon, replace } from "./dom.js";
import { avatarFor } from "./format.js";
import { LANGS, lang, onLangChange, setLang, t } from "./i18n.js";
import { InboxStore } from "./inbox-store.js";
import { InboxList } from "./inbox.js";
import { closeModals } from "./modal.js";
import { session } from "./session.js";

const root = document.getElementById("app");
const state = {
  store: null,
  list: null,
  conversation: null,
  page: null,
  pageKind: null,
  rail: null,
  main: null,
  loginReason: undefined,
};
const PAGES = ["inbox", "assistants", "connections", "blocks", "account"];

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const page = PAGES.includes(parts[0]) ? parts[0] : "inbox";
  let id = parts[1] || null;
  if (id && id !== "new") id = /^\d+$/.test(id) ? Number(id) : null;
  return { page, id };
}

// ---- login ------------------------------------------------------------------------------

function langSwitch() {
  return h(
    "div",
    { class: "lang-switch", role: "group", "aria-label": t("lang.label") },
    LANGS.map((code) =>
      h(
        "button",
        {
          type: "button",
          class: code === lang() ? "selected" : "",
          "aria-pressed": String(code === lang()),
          lang: code,
          dataset: { lang: code },
          onclick: () => setLang(code),
        },
        code.toUpperCase(),
      ),
    ),
  );
}

// Why the login form is shown: the session ended elsewhere (or expired), or this tab logged out.
const LOGIN_NOTICES = { expired: "login.expired", logout: "login.logged_out" };

function showLogin(reason) {
  const typed = document.getElementById("login-email")?.value || "";
  teardown();
  closeModals();
  state.loginReason = reason;
  document.body.className = "at-login";
  document.title = t("title");
  const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true, value: typed });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, t("login.submit"));
  const notice = LOGIN_NOTICES[reason]
    ? h("div", { class: `notice notice-${reason}`, role: "status" }, icon("lock", 16), h("span", {}, t(LOGIN_NOTICES[reason])))
    : null;
  let stopCooldown = null;
  const form = h(
    "form",
    {
      class: "login-card",
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          const answer = await post("/api/auth/login", { email: email.value, password: password.value });
          session.token = answer.access_token;
          await enter();
        } catch (failure) {
          error.hidden = false;
          submit.disabled = false;
          const status = failure instanceof ApiError ? failure.status : 0;
          if (status === 429 && failure.retryAfter) {
            // Throttled after repeated failures: no password is checked until the wait is over.
            stopCooldown?.();
            stopCooldown = cooldown({ button: submit, message: error, seconds: failure.retryAfter, text: (s) => t("throttle.wait", { n: s }) });
          } else {
            replace(error, status === 401 ? t("login.wrong") : status === 429 ? t("throttle.later") : failure.detail || failure.message);
          }
          password.select();
        }
      },
    },
    h("div", { class: "brand brand-lg" }, h("span", { class: "logo" }, "rx"), h("span", {}, "replyx")),
    h("h1", {}, t("login.title")),
    h("p", { class: "muted" }, t("login.subtitle")),
    notice,
    h("div", { class: "field" }, h("label", { for: "login-email" }, t("login.email")), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")), password),
    error,
    submit,
    h("div", { class: "login-foot" }, langSwitch()),
  );
  replace(root, h("main", { class: "login" }, form));
  requestAnimationFrame(() => email.focus());
}

// ---- the app shell ----------------------------------------------------------------------

async function enter() {
  try {
    session.me = await get("/api/auth/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // expire() shows the login form
    replace(root, h("main", { class: "login" }, h("div", { class: "login-card" }, h("h1", {}, t("error.title")), h("p", {}, error.message), h("button", { class: "btn", onclick: () => location.reload() }, t("error.retry")))));
    return;
  }
  state.store = new InboxStore();
  state.store.subscribe(() => updateBadges());
  state.store.start();
  renderShell();
  route();
}

function teardown() {
  destroyPage();
  state.list?.destroy();
  state.list = null;
  state.store?.stop();
  state.store = null;
}

/**
 * Log out for real: the server ends every session of this operator (tokens answer 401, sockets
 * close with 4001 on every node), then this tab forgets its token, drafts and unsent replies.
 * Offline, the token is forgotten here all the same.
 */
async function logOut() {
  for (const button of document.querySelectorAll('[data-action="logout"], [data-action="logout-everywhere"]')) button.disabled = true;
  // This tab's own sockets go first, so their 4001 is not read as a session ended elsewhere.
  teardown();
  try {
    await post("/api/auth/logout");
  } catch {
    /* offline, or the session was over already */
  }
  session.logout();
}

function destroyPage() {
  state.conversation?.destroy();
  state.conversation = null;
  state.page?.destroy();
  state.page = null;
  state.pageKind = null;
  state.list?.destroy();
  state.list = null;
  document.body.classList.remove("details-open");
}

function navLink(page, iconName, label) {
  return h(
    "a",
    { href: `#/${page}`, class: "rail-link", dataset: { nav: page }, title: label, "aria-label": label },
    icon(iconName, 20),
    h("span", { class: "rail-label" }, label),
    h("span", { class: "rail-badge", hidden: true }),
  );
}

function renderShell() {
  document.body.className = "in-app";
  const me = session.me;
  const avatar = avatarFor(me.email);
  const avatarEl = h("span", { class: "avatar avatar-sm me", style: `--hue:${avatar.hue}`, dataset: { operator: me.name } }, (me.name || "?").slice(0, 2).toUpperCase());
  state.rail = h(
    "nav",
    { class: "rail", "aria-label": t("nav.label") },
    h("a", { href: "#/inbox", class: "brand", title: "replyx" }, h("span", { class: "logo" }, "rx")),
    navLink("inbox", "inbox", t("nav.inbox")),
    navLink("assistants", "bot", t("nav.assistants")),
    navLink("connections", "pulse", t("nav.connections")),
    navLink("blocks", "ban", t("nav.blocks")),
    h("div", { class: "rail-spacer" }),
    langSwitch(),
    h(
      "a",
      { href: "#/account", class: "rail-account", dataset: { nav: "account" }, title: `${t("nav.account")}: ${me.name} · ${me.email}`, "aria-label": t("nav.account") },
      avatarEl,
    ),
    h("button", { type: "button", class: "rail-link", title: t("nav.logout"), "aria-label": t("nav.logout"), dataset: { action: "logout" }, onclick: () => logOut() }, icon("logout", 20), h("span", { class: "rail-label" }, t("nav.logout"))),
  );
  state.main = h("main", { class: "main", id: "main" });
  replace(root, h("a", { href: "#main", class: "skip-link" }, t("nav.skip")), state.rail, state.main);
}

function updateBadges() {
  if (!state.store || !state.rail) return;
  const waiting = state.store.counts().requested;
  const badge = state.rail.querySelector('[data-nav="inbox"] .rail-badge');
  if (badge) {
    badge.hidden = waiting === 0;
    badge.textContent = String(waiting);
    badge.title = t("nav.waiting", { n: waiting });
  }
  document.title = waiting ? `(${waiting}) ${t("title")}` : t("title");
}

function route() {
  if (!state.store) return;
  const { page, id } = parseRoute();
  for (const link of state.rail.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === page);
    if (link.dataset.nav === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (page === "inbox") {
    showInbox(id);
    return;
  }
  destroyPage();
  state.pageKind = page;
  document.body.dataset.page = page;
  if (page === "assistants") {
    state.page = new AssistantsPage({ selected: id, store: state.store });
  } else if (page === "blocks") {
    state.page = new BlocksPage();
  } else if (page === "account") {
    state.page = new AccountPage({ onLogout: () => logOut() });
  } else {
    state.page = new ConnectionsPage({ store: state.store });
  }
  replace(state.main, state.page.el);
  state.page.start();
}

function showInbox(id) {
  if (state.pageKind !== "inbox") {
    destroyPage();
    state.pageKind = "inbox";
    state.list = new InboxList(state.store);
  }
  document.body.dataset.page = "inbox";
  document.body.classList.toggle("has-dialog", id !== null);
  if (state.conversation && state.conversation.id === id) return;
  state.conversation?.destroy();
  state.conversation = null;
  document.body.classList.remove("details-open");
  state.store.setActive(typeof id === "number" ? id : null);
  if (typeof id === "number") {
    state.conversation = new Conversation({ dialogId: id, store: state.store });
    replace(state.main, h("div", { class: "page inbox-page" }, state.list.el, state.conversation.pane, state.conversation.details));
    state.conversation.start();
    if (state.focusComposer) state.conversation.focusComposer();
    state.focusComposer = false;
  } else {
    replace(state.main, h("div", { class: "page inbox-page no-dialog" }, state.list.el, emptyConversation(state.store)));
  }
}

// ---- keyboard ---------------------------------------------------------------------------

function typingTarget(el) {
  return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable);
}

document.addEventListener("keydown", (event) => {
  if (!state.store || state.pageKind !== "inbox") return;
  if (event.altKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    const links = [...document.querySelectorAll(".dialog-list .dialog-item")];
    if (!links.length) return;
    event.preventDefault();
    const current = links.findIndex((a) => a.classList.contains("active"));
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = links[Math.min(links.length - 1, Math.max(0, current + step))] || links[0];
    if (location.hash === next.getAttribute("href")) {
      state.conversation?.focusComposer();
    } else {
      state.focusComposer = true;
      location.hash = next.getAttribute("href");
    }
  } else if (event.key === "/" && !typingTarget(event.target)) {
    event.preventDefault();
    document.querySelector(".search-input")?.focus();
  } else if (event.key === "Escape" && document.body.classList.contains("details-open")) {
    document.body.classList.remove("details-open");
  }
});

// ---- start ------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
// The hash stays as it was, so after logging in again the operator is back in the same
// dialog with the draft and unsent replies restored from sessionStorage.
session.onExpired((reason) => showLogin(reason));
onLangChange(() => {
  if (state.store) {
    const store = state.store;
    destroyPage();
    state.store = store;
    renderShell();
    updateBadges();
    route();
  } else {
    showLogin(state.loginReason);
  }
});

if (session.token) enter();
else showLogin();
