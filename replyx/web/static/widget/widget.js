/*
 * replyx widget loader (served as /widget.js).
 *
 *   <script src="https://HOST/widget.js" data-site-token="..." async></script>
 *
 * Adds a launcher button and the chat iframe (/chat-iframe) to the page.
 * Everything lives in this function's scope and in a shadow root, so the host
 * page gets no globals and no CSS, and its CSS does not reach the widget.
 * See docs/widget.md for the data attributes and the postMessage bridge.
 */
(function () {
  "use strict";

  const TEXT = {
    en: {
      open: "Open chat",
      close: "Close chat",
      chat: "Chat",
      dismiss: "Dismiss",
      unread: { one: "{n} unread message", other: "{n} unread messages" },
    },
    ru: {
      open: "Открыть чат",
      close: "Закрыть чат",
      chat: "Чат",
      dismiss: "Скрыть",
      unread: { one: "{n} непрочитанное сообщение", few: "{n} непрочитанных сообщения", many: "{n} непрочитанных сообщений" },
    },
  };

  // The launcher and the panel sit above nearly everything a page may put on top.
  const Z_INDEX = 2147483000;
  // The longest preview of a new message shown next to the closed launcher.
  const PREVIEW_CHARS = 140;

  const ICON_CHAT =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 3C6.9 3 3 6.6 3 11c0 2.3 1.1 4.4 2.9 5.9-.1 1.3-.6 2.7-1.6 3.8-.2.2 0 .6.3.6 2 0 3.7-.7 4.9-1.6.8.2 1.6.3 2.5.3 5.1 0 9-3.6 9-8s-3.9-8-9-8Zm-4 9.2a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4Zm4 0a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4Zm4 0a1.2 1.2 0 1 1 0-2.4 1.2 1.2 0 0 1 0 2.4Z"/></svg>';
  const ICON_CLOSE =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6 6 18"/></svg>';

  const STYLE = `
:host { all: initial !important; display: block !important; }
:host([data-mode=inline]) { width: 100% !important; height: 100% !important; }
.inline { height: 100%; }
*, *::before, *::after { box-sizing: border-box; }
.rx { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-font-smoothing: antialiased; --accent: #3b5bdb; --accent-text: #fff; }
.floating .panel, .floating .launcher, .floating .preview { position: fixed; z-index: ${Z_INDEX}; }
.floating .launcher { bottom: 24px; right: 24px; }
.floating .panel { bottom: 100px; right: 24px; width: 384px; height: min(680px, calc(100vh - 124px));
  min-height: 360px; border-radius: 18px; overflow: hidden; background: #fff;
  box-shadow: 0 24px 60px -12px rgba(16, 24, 64, .28), 0 6px 18px rgba(16, 24, 64, .10);
  opacity: 0; visibility: hidden; transform: translateY(14px) scale(.98); transform-origin: bottom right;
  transition: opacity .18s ease, transform .22s cubic-bezier(.2, .9, .3, 1.2), visibility 0s linear .22s; }
.floating.open .panel { opacity: 1; visibility: visible; transform: none; transition-delay: 0s; }
.floating.left .launcher { right: auto; left: 24px; }
.floating.left .panel { right: auto; left: 24px; transform-origin: bottom left; }
.floating.left .preview { right: auto; left: 24px; }
.launcher { width: 60px; height: 60px; border-radius: 50%; border: 0; padding: 0; margin: 0; cursor: pointer;
  background: var(--accent); color: var(--accent-text); display: grid; place-items: center;
  box-shadow: 0 10px 24px -6px rgba(16, 24, 64, .35), 0 2px 6px rgba(16, 24, 64, .12);
  transition: transform .15s ease, box-shadow .15s ease; -webkit-tap-highlight-color: transparent; }
.launcher:hover { transform: scale(1.06); }
.launcher:focus-visible { outline: 3px solid #fff; box-shadow: 0 0 0 6px var(--accent); }
.launcher svg { width: 30px; height: 30px; grid-area: 1 / 1; transition: transform .2s ease, opacity .2s ease; }
.launcher .i-close { width: 24px; height: 24px; opacity: 0; transform: rotate(-90deg) scale(.6); }
.open .launcher .i-chat { opacity: 0; transform: rotate(90deg) scale(.6); }
.open .launcher .i-close { opacity: 1; transform: none; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #e5383b; color: #fff; font: 700 12px/22px system-ui, sans-serif;
  text-align: center; border: 2px solid #fff; box-sizing: content-box; display: none; }
.has-unread .badge { display: block; }
.open .badge { display: none; }
.preview { bottom: 96px; right: 24px; width: 290px; max-width: calc(100vw - 48px); background: #fff;
  border-radius: 14px; box-shadow: 0 14px 36px -10px rgba(16, 24, 64, .30), 0 2px 8px rgba(16, 24, 64, .10);
  display: none; }
.show-chat { display: block; width: 100%; padding: 12px 34px 12px 14px; margin: 0; border: 0; border-radius: 14px;
  background: transparent; color: #1d2130; cursor: pointer; text-align: left;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.show-chat:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.preview.show { display: block; animation: rx-pop .22s ease-out; }
.open .preview.show { display: none; }
.preview .from { display: block; font-weight: 650; font-size: 13px; margin-bottom: 2px; color: #1d2130; }
.preview .text { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden;
  color: #424a5e; overflow-wrap: anywhere; }
.dismiss { position: absolute; top: 6px; right: 6px; width: 24px; height: 24px; border: 0; border-radius: 50%;
  background: transparent; color: #8a90a2; cursor: pointer; display: grid; place-items: center; padding: 0; }
.dismiss:hover { background: #f0f2f7; color: #1d2130; }
.dismiss svg { width: 14px; height: 14px; }
.inline .panel { width: 100%; height: 100%; min-height: 480px; border-radius: 14px; overflow: hidden;
  border: 1px solid #e3e6ee; background: #fff; }
iframe { display: block; width: 100%; height: 100%; border: 0; margin: 0; padding: 0; background: transparent;
  color-scheme: normal; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@keyframes rx-pop { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }
@media (max-width: 480px) {
  .floating .panel { inset: 0; width: 100%; height: 100%; min-height: 0; border-radius: 0; transform: translateY(24px); }
  .floating.open .launcher { opacity: 0; visibility: hidden; }
  .floating .launcher { bottom: 16px; right: 16px; }
  .floating.left .launcher { left: 16px; }
  .floating .preview { bottom: 88px; right: 16px; }
}
@media (prefers-reduced-motion: reduce) { .panel, .launcher, .launcher svg, .preview { transition: none !important; animation: none !important; } }
`;

  // The loader is one classic script on the host page, so it cannot import shared/i18n.js;
  // it asks the browser for the same CLDR plural rules.
  function countText(lang, forms, n) {
    const form = forms[new Intl.PluralRules(lang).select(n)] || forms.other || forms.many;
    return form.replace("{n}", String(n));
  }

  function findScript() {
    const current = document.currentScript;
    if (current && current.src) return current;
    const all = document.querySelectorAll("script[src]");
    for (let i = all.length - 1; i >= 0; i--) {
      const el = all[i];
      if (/\/widget\.js(\?|#|$)/.test(el.src) && !el.hasAttribute("data-replyx-loaded")) return el;
    }
    return null;
  }

  function pickLang(attr) {
    const wanted = (attr || navigator.language || "en").toLowerCase();
    return wanted.slice(0, 2) === "ru" ? "ru" : "en";
  }

  function readableOn(hex) {
    // Dark text on light accents, white text on dark ones (relative luminance).
    let h = hex.slice(1);
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    const [r, g, b] = [0, 2, 4].map((i) => {
      const c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? "#111" : "#fff";
  }

  function adoptStyle(root) {
    // A constructed stylesheet also works on pages whose CSP forbids inline <style>.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      root.adoptedStyleSheets = [sheet];
      return;
    } catch {
      const style = el("style");
      style.textContent = STYLE;
      root.appendChild(style);
    }
  }

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function start(script) {
    const data = script.dataset;
    const siteToken = (data.siteToken || "").trim();
    const assistantId = (data.assistantId || "").trim();
    if (!siteToken && !assistantId) {
      console.warn("replyx: the widget script needs data-site-token or data-assistant-id");
      return;
    }
    const lang = pickLang(data.lang);
    const t = TEXT[lang];
    const color = /^#(?:[0-9a-f]{3}){1,2}$/i.test(data.color || "") ? data.color : "";
    let mode = data.mode === "inline" ? "inline" : "floating";
    let target = null;
    if (mode === "inline") {
      target = data.target ? document.querySelector(data.target) : null;
      if (!target) {
        console.warn("replyx: data-target does not name an element on this page; showing the floating widget");
        mode = "floating";
      }
    }
    if (mode === "floating" && document.querySelector("replyx-widget[data-mode=floating]")) return;

    const server = new URL(".", script.src);
    const params = new URLSearchParams();
    // The site token has priority over the assistant id, as in the visitor API.
    if (siteToken) params.set("site_token", siteToken);
    else params.set("assistant_id", assistantId);
    if (data.lang) params.set("lang", lang);
    params.set("layout", mode);
    params.set("origin", location.origin);
    if (color) params.set("color", color);
    const src = new URL("chat-iframe?" + params.toString(), server).href;

    const host = document.createElement("replyx-widget");
    host.setAttribute("data-mode", mode);
    const root = host.attachShadow({ mode: "open" });
    adoptStyle(root);
    const box = el("div", "rx " + mode + (data.position === "left" ? " left" : ""));
    if (color) {
      box.style.setProperty("--accent", color);
      box.style.setProperty("--accent-text", readableOn(color));
    }
    const panel = el("div", "panel");
    const frame = el("iframe");
    frame.title = t.chat;
    frame.src = src;
    frame.setAttribute("allow", "clipboard-write");
    frame.setAttribute("referrerpolicy", "origin");
    panel.appendChild(frame);
    box.appendChild(panel);
    root.append(box);

    let open = mode === "inline";
    let ready = false;
    let unread = 0;
    let launcher = null;
    let badge = null;
    let live = null;
    let preview = null;

    function post(message) {
      if (ready && frame.contentWindow) frame.contentWindow.postMessage({ replyx: 1, ...message }, server.origin);
    }

    function setOpen(value, focus) {
      open = value;
      box.classList.toggle("open", open);
      if (launcher) {
        launcher.setAttribute("aria-expanded", String(open));
        launcher.setAttribute("aria-label", open ? t.close : t.open);
      }
      if (open && preview) preview.classList.remove("show");
      post({ type: "visibility", open, focus: Boolean(focus) });
      if (open && focus) frame.focus();
      if (!open && focus && launcher) launcher.focus();
    }

    if (mode === "floating") {
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-label", t.chat);
      launcher = el("button", "launcher");
      launcher.type = "button";
      launcher.setAttribute("aria-expanded", "false");
      launcher.setAttribute("aria-label", t.open);
      launcher.innerHTML = ICON_CHAT.replace("<svg", '<svg class="i-chat"') + ICON_CLOSE.replace("<svg", '<svg class="i-close"');
      badge = el("span", "badge");
      badge.setAttribute("aria-hidden", "true");
      launcher.appendChild(badge);
      live = el("span", "sr");
      live.setAttribute("role", "status");
      preview = el("div", "preview");
      const show = el("button", "show-chat");
      show.type = "button";
      show.append(el("span", "from"), el("span", "text"));
      const dismiss = el("button", "dismiss");
      dismiss.type = "button";
      dismiss.setAttribute("aria-label", t.dismiss);
      dismiss.innerHTML = ICON_CLOSE;
      preview.append(show, dismiss);
      box.append(preview, launcher, live);
      launcher.addEventListener("click", () => setOpen(!open, true));
      box.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && open) setOpen(false, true);
      });
      show.addEventListener("click", () => setOpen(true, true));
      dismiss.addEventListener("click", () => preview.classList.remove("show"));
    } else {
      box.classList.add("open");
    }

    function showUnread(count, latest) {
      const grew = count > unread;
      unread = count;
      if (!badge) return;
      badge.textContent = count > 99 ? "99+" : String(count);
      box.classList.toggle("has-unread", count > 0);
      live.textContent = count > 0 ? countText(lang, t.unread, count) : "";
      if (count === 0) preview.classList.remove("show");
      else if (grew && !open && latest && typeof latest.text === "string") {
        const body = latest.text.length > PREVIEW_CHARS ? latest.text.slice(0, PREVIEW_CHARS - 1) + "…" : latest.text;
        preview.querySelector(".from").textContent = String(latest.from || "");
        preview.querySelector(".text").textContent = body;
        preview.classList.add("show");
      }
    }

    window.addEventListener("message", (event) => {
      // Only the chat iframe, from the replyx server, speaks to the loader.
      if (event.origin !== server.origin || event.source !== frame.contentWindow) return;
      const message = event.data;
      if (!message || message.replyx !== 1 || typeof message.type !== "string") return;
      if (message.type === "ready") {
        ready = true;
        post({ type: "visibility", open, focus: false });
      } else if (message.type === "unread" && Number.isInteger(message.count) && message.count >= 0) {
        showUnread(message.count, message.latest);
      } else if (message.type === "close" && mode === "floating") {
        setOpen(false, true);
      } else if (message.type === "open" && mode === "floating") {
        setOpen(true, false);
      }
    });

    (target || document.body).appendChild(host);
  }

  const script = findScript();
  if (!script || script.hasAttribute("data-replyx-loaded")) return;
  script.setAttribute("data-replyx-loaded", "");
  if (document.body) start(script);
  else document.addEventListener("DOMContentLoaded", () => start(script), { once: true });
})();
