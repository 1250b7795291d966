// The visitor's chat inside the iframe: wires the session, the socket, the timeline and the view.
//
// Recovery in one paragraph (docs/widget.md has the long form): every message
// has a per-dialog seq; the chat holds the last seq it has shown and reconnects
// with since=<that seq>, so the server replays exactly what was missed. A seq
// that skips ahead fetches the missing range over REST. The visitor's own
// messages carry a client_id, are shown at once as pending, sent whenever a
// socket is ready (again after every reconnect), and replaced in place by the
// server's echo; the server stores a client_id once, so resending never duplicates.

import { CatchUp } from "../../shared/catchup.js";
import { CLOSE } from "../../shared/closecodes.js";
import { ConnectError, LiveSocket } from "../../shared/socket.js";
import { Timeline } from "../../shared/timeline.js";
import { HttpError, VisitorApi } from "./api.js";
import { pickLang, translator } from "./i18n.js";
import { Outbox } from "./outbox.js";
import { SessionStore } from "./storage.js";
import { ChatView } from "./view.js";

// A sent message without an echo for this long is sent again (the client_id makes that safe).
const RESEND_AFTER_MS = 10000;
// How often queued and unanswered messages are looked at.
const FLUSH_EVERY_MS = 2500;
// After the server asks to slow down, wait this long before sending again.
const RATE_LIMIT_PAUSE_MS = 4000;
// The visitor's "typing" is sent at most this often while they type...
const TYPING_EVERY_MS = 3000;
// ...and "stopped typing" after this much quiet.
const TYPING_IDLE_MS = 4000;
// The other side's dots disappear by themselves if its "stop" never comes.
const TYPING_SHOWN_MS = 8000;
// Connection trouble shorter than this is not worth a banner.
const BANNER_DELAY_MS = 900;

const config = readConfig();
const lang = pickLang(config.lang);
const tr = translator(lang);
const t = tr.t;
const embedded = window.parent !== window;
const layout = embedded ? config.layout || "floating" : "page";
// The real parent's origin where the browser tells it; otherwise what the loader passed.
const parentOrigin = embedded
  ? (location.ancestorOrigins && location.ancestorOrigins.length && location.ancestorOrigins[0]) ||
    config.parentOrigin ||
    ""
  : "";
const coarsePointer = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;

const view = new ChatView(t, lang);
const timeline = new Timeline();
const outbox = new Outbox();
const api = new VisitorApi(config);
const store = new SessionStore(config.assistantId || "unknown");

const state = {
  session: null, // {dialogId, guestToken, fromStorage, confirmed}
  status: "ai",
  operatorName: "",
  everReady: false, // some socket has delivered its replay and `ready`: later trouble is "reconnecting"
  open: layout !== "floating", // the panel is visible on the host page
  readSeq: 0,
  sentReadSeq: 0,
  operatorReadSeq: 0,
  fatal: 0,
  pausedUntil: 0,
  postedUnread: -1,
};
let opening = null;
let typingSentAt = 0;
let typingTimer = null;

const socket = new LiveSocket({ url: connectUrl, since: () => timeline.lastSeq, onEvent: onFrame, onState });
const catchUp = new CatchUp({
  timeline,
  fetchRange: (since, until) => (state.session ? api.messages(state.session, since, until) : Promise.resolve([])),
  deliver: (messages) => messages.forEach(receive),
  // The range could not be fetched: a new socket's replay brings it instead.
  onStuck: () => socket.reconnect(),
});

function readConfig() {
  try {
    return JSON.parse(document.getElementById("replyx-config").textContent || "{}");
  } catch {
    return { error: "unavailable" };
  }
}

function toParent(message) {
  if (embedded && parentOrigin) window.parent.postMessage({ replyx: 1, ...message }, parentOrigin);
}

function label(sender) {
  if (sender === "operator") return state.operatorName || t("operator");
  if (sender === "assistant") return config.name || t("assistant");
  return "";
}

// ---- session -------------------------------------------------------------

function adopt(record, fromStorage) {
  state.session = { dialogId: record.dialogId, guestToken: record.guestToken, fromStorage, confirmed: !fromStorage };
  return state.session;
}

function connectError(error) {
  if (error instanceof HttpError && error.terminal) {
    const code = { 401: CLOSE.UNAUTHORIZED, 404: CLOSE.NOT_FOUND }[error.status] || CLOSE.FORBIDDEN;
    return new ConnectError(error.message, code);
  }
  return new ConnectError(String((error && error.message) || error));
}

async function openSession() {
  const record = store.load();
  if (record.dialogId && record.guestToken) return adopt(record, true);
  let data;
  try {
    // The guest token of the last dialog proves this is the same guest (the id alone does not).
    data = await api.openDialog(record.guestId || null, record.guestToken || null);
  } catch (error) {
    if (!(error instanceof HttpError && error.status === 422 && record.guestId)) throw connectError(error);
    // A guest id the server does not accept (an older format): start as a new guest.
    store.save({ guestId: null });
    data = await api.openDialog(null).catch((again) => {
      throw connectError(again);
    });
  }
  store.save({ guestId: data.guest_id, dialogId: data.dialog_id, guestToken: data.guest_token });
  setStatus(data.status);
  return adopt({ dialogId: data.dialog_id, guestToken: data.guest_token }, false);
}

/** The dialog, opened (or resumed) over REST the first time the visitor needs it. */
function ensureSession() {
  if (state.session) return Promise.resolve(state.session);
  if (!opening) opening = openSession().finally(() => (opening = null));
  return opening;
}

async function connectUrl() {
  const session = await ensureSession();
  return api.socketUrl(session);
}

/** Back to "no dialog yet": the greeting, an empty list, a fresh socket on the next message. */
function resetConversation() {
  // The guest token stays: it proves who this guest is when the next dialog opens.
  store.save({ dialogId: null, readSeq: 0 });
  state.session = null;
  state.everReady = false;
  state.readSeq = state.sentReadSeq = state.operatorReadSeq = 0;
  state.operatorName = "";
  state.fatal = 0;
  catchUp.cancel();
  timeline.reset();
  outbox.clear();
  socket.stop();
  view.clear();
  view.hideNotice();
  view.setConnection("");
  setStatus("ai");
  view.placeholderGreeting(config.greeting, label("assistant"));
  view.input.disabled = false;
  updateUnread();
}

// ---- socket events -------------------------------------------------------

function onState({ state: socketState, code }) {
  if (socketState === "stopped") return stopped(code);
  if (socketState === "idle") return view.setConnection("");
  // "live" is drawn by onReady, which the `ready` event reaches next.
  if (socketState === "retrying" || socketState === "connecting") {
    const kind = !navigator.onLine ? "offline" : state.everReady ? "reconnecting" : "connecting";
    view.setConnection(kind, BANNER_DELAY_MS);
  }
}

function stopped(code) {
  const session = state.session;
  if ((code === CLOSE.FORBIDDEN || code === CLOSE.NOT_FOUND) && session && session.fromStorage && !session.confirmed) {
    // The stored dialog is gone or its credential is stale: carry on as a new visitor.
    const pending = [...outbox.items.values()];
    resetConversation();
    for (const item of pending) {
      outbox.items.set(item.clientId, { ...item, state: "queued" });
      view.pending(item, retry);
    }
    if (outbox.size) socket.start();
    return;
  }
  state.fatal = code;
  view.setConnection("");
  view.hideTyping();
  view.setStatus("unavailable", "", config.name);
  const key = { [CLOSE.UNAUTHORIZED]: "unauthorized", [CLOSE.FORBIDDEN]: "forbidden", [CLOSE.NOT_FOUND]: "notFound" }[code];
  view.showNotice(t(key || "unavailable"), code === CLOSE.NOT_FOUND ? { label: t("newChat"), run: resetConversation } : null);
  for (const item of outbox.items.values()) view.setPendingState(item.clientId, true);
}

function onFrame(frame) {
  if (!state.session) return;
  if (frame.dialog_id !== undefined && frame.dialog_id !== null && frame.dialog_id !== state.session.dialogId) return;
  if (frame.type === "message" && frame.message) receive(frame.message);
  else if (frame.type === "ready") onReady(frame);
  else if (frame.type === "typing") onTyping(frame);
  else if (frame.type === "status") setStatus(frame.status, frame.operator && frame.operator.name);
  else if (frame.type === "read") onRead(frame);
  else if (frame.type === "error") onError(frame);
  else if (frame.type === "message_delta" && frame.stream_id) onDelta(frame);
}

function onDelta(frame) {
  if (state.status !== "ai") return;
  view.hideTyping();
  view.draft(String(frame.stream_id), String(frame.text || ""), label("assistant"));
}

function receive(message) {
  const { ready, gap } = timeline.receive(message);
  for (const item of ready) show(item);
  if (ready.length) {
    updateUnread();
    markRead();
  }
  if (gap) catchUp.fill(gap);
}

function show(message) {
  view.dropPlaceholder();
  // A streamed answer's stored message carries the stream's id as its client_id.
  if (message.client_id && message.sender !== "user") view.dropDraft(message.client_id);
  if (message.sender === "system") {
    if (message.notice === "operator_joined" && message.args && message.args.operator) state.operatorName = message.args.operator;
    view.notice(message, tr.notice(message));
    return;
  }
  if (message.sender !== "user") view.hideTyping();
  const seen = message.sender === "user" && message.seq <= state.operatorReadSeq;
  if (message.sender === "user" && message.client_id && outbox.has(message.client_id)) {
    outbox.confirm(message.client_id);
    view.confirm(message.client_id, message, seen);
  } else {
    view.message(message, label(message.sender), seen);
  }
}

function onReady(frame) {
  state.everReady = true;
  state.sentReadSeq = 0;
  state.session.confirmed = true;
  view.setConnection("");
  setStatus(frame.status);
  // Read positions are not replayed as events: what was read while away is learnt here.
  if (frame.read) {
    onRead({ reader: "operator", seq: frame.read.operator });
    onRead({ reader: "user", seq: frame.read.user });
  }
  if (Number.isInteger(frame.last_seq) && frame.last_seq > timeline.lastSeq) {
    catchUp.fill({ since: timeline.lastSeq, until: frame.last_seq });
  }
  outbox.requeue();
  flush();
  markRead();
  updateUnread();
}

function onTyping(frame) {
  if (frame.sender === "user") return;
  if (frame.state === "start") view.showTyping(label(frame.sender), TYPING_SHOWN_MS);
  else view.hideTyping();
}

function onRead(frame) {
  if (!Number.isInteger(frame.seq)) return;
  if (frame.reader === "operator") {
    state.operatorReadSeq = Math.max(state.operatorReadSeq, frame.seq);
    view.markSeen(state.operatorReadSeq);
  } else if (frame.reader === "user" && frame.seq > state.readSeq) {
    // Another tab of this visitor read it.
    state.readSeq = frame.seq;
    store.save({ readSeq: frame.seq });
    updateUnread();
  }
}

function onError(frame) {
  if (frame.code === "rate_limited") {
    outbox.requeue();
    state.pausedUntil = Date.now() + RATE_LIMIT_PAUSE_MS;
    view.toast(t("rateLimited"));
    return;
  }
  if (frame.code === "unavailable") {
    outbox.requeue();
    state.pausedUntil = Date.now() + RATE_LIMIT_PAUSE_MS;
    return;
  }
  const item = outbox.oldestSent();
  if (!item) return;
  item.state = "failed";
  view.setPendingState(item.clientId, true);
  if (frame.code === "too_long") view.toast(t("tooLong", { max: config.maxLength }));
  else if (frame.code === "dialog_closed") setStatus("closed");
}

function setStatus(status, operatorName) {
  if (!status) return;
  state.status = status;
  if (status !== "ai") view.dropDrafts();
  if (operatorName) state.operatorName = operatorName;
  if (state.fatal) return;
  view.setStatus(status, state.operatorName, config.name);
  if (status === "closed") view.showNotice(t("ended"), { label: t("newChat"), run: resetConversation });
  else view.hideNotice();
}

// ---- sending ---------------------------------------------------------------

function flush() {
  if (!socket.live || Date.now() < state.pausedUntil) return;
  const now = Date.now();
  for (const item of outbox.due(now, RESEND_AFTER_MS)) {
    if (!socket.send({ type: "message", text: item.text, client_id: item.clientId })) return;
    item.state = "sent";
    item.sentAt = now;
    view.setPendingState(item.clientId, false);
  }
}

function submit() {
  const text = view.input.value.trim();
  if (!text || state.fatal || state.status === "closed") return;
  if (config.maxLength && text.length > config.maxLength) {
    view.toast(t("tooLong", { max: config.maxLength }));
    return;
  }
  view.input.value = "";
  view.autosize();
  stopTyping();
  const item = outbox.add(text);
  view.pending(item, retry);
  if (state.session) flush();
  socket.start();
}

function retry(clientId) {
  const item = outbox.items.get(clientId);
  if (!item || state.fatal) return;
  item.state = "queued";
  view.setPendingState(clientId, false);
  flush();
  socket.start();
}

function typed() {
  view.autosize();
  if (!socket.live) return;
  const now = Date.now();
  if (view.input.value.trim() && now - typingSentAt > TYPING_EVERY_MS) {
    if (socket.send({ type: "typing", state: "start" })) typingSentAt = now;
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSentAt) socket.send({ type: "typing", state: "stop" });
  typingSentAt = 0;
}

async function askForHuman() {
  const button = document.getElementById("human");
  button.disabled = true;
  try {
    const session = await ensureSession();
    socket.start();
    const answer = await api.handoff(session);
    if (answer && answer.status) setStatus(answer.status);
  } catch {
    view.toast(t("humanFailed"));
  } finally {
    button.disabled = false;
  }
}

// ---- read state and the host page -----------------------------------------

function visible() {
  return state.open && document.visibilityState === "visible";
}

/** The visitor sees the chat: everything shown so far is read (told to the server once per seq). */
function markRead() {
  if (!visible() || !state.session) return;
  if (timeline.lastSeq > state.readSeq) {
    state.readSeq = timeline.lastSeq;
    store.save({ readSeq: state.readSeq });
  }
  if (socket.live && state.readSeq > state.sentReadSeq && socket.send({ type: "read", seq: state.readSeq })) {
    state.sentReadSeq = state.readSeq;
  }
  updateUnread();
}

/** Tell the loader how many answers the visitor has not seen, for the launcher's badge. */
function updateUnread() {
  let count = 0;
  let latest = null;
  for (const message of timeline.messages.values()) {
    if ((message.sender === "assistant" || message.sender === "operator") && message.seq > state.readSeq) {
      count += 1;
      latest = message;
    }
  }
  if (count === state.postedUnread) return;
  state.postedUnread = count;
  toParent({ type: "unread", count, latest: latest && { from: label(latest.sender), text: latest.text } });
}

function onParentMessage(event) {
  if (!embedded || event.source !== window.parent) return;
  if (parentOrigin && event.origin !== parentOrigin) return;
  const data = event.data;
  if (!data || data.replyx !== 1) return;
  if (data.type === "visibility") {
    state.open = Boolean(data.open);
    if (!state.open) return;
    view.scrollToEnd();
    markRead();
    if (data.focus && !coarsePointer && !view.input.disabled) view.input.focus();
  }
}

function requestClose() {
  if (layout === "floating") toParent({ type: "close" });
}

// ---- start -----------------------------------------------------------------

function start() {
  view.setup({ name: config.name, layout, maxLength: config.maxLength, color: config.color });
  document.documentElement.lang = lang;
  window.addEventListener("message", onParentMessage);
  if (config.error) {
    view.setStatus("unavailable", "", config.name);
    view.showNotice(t("unavailable"), null);
    toParent({ type: "ready" });
    return;
  }
  view.setStatus("ai", "", config.name);
  const composer = document.getElementById("composer");
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  view.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  view.input.addEventListener("input", typed);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") requestClose();
  });
  document.getElementById("close").addEventListener("click", requestClose);
  document.getElementById("human").addEventListener("click", askForHuman);
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("offline", () => {
    if (state.session) view.setConnection("offline");
  });
  // The shared socket checks itself when the network is back; a socket that outlived the outage stays live.
  window.addEventListener("online", () => {
    if (state.session) view.setConnection(socket.live ? "" : "reconnecting");
  });
  setInterval(flush, FLUSH_EVERY_MS);

  const record = store.load();
  state.readSeq = Number(record.readSeq) || 0;
  if (record.dialogId && record.guestToken) {
    adopt(record, true);
    socket.start();
  } else {
    view.placeholderGreeting(config.greeting, label("assistant"));
  }
  store.onChange((next) => {
    // Another tab opened the dialog first: join it instead of opening a second one.
    if (!state.session && !opening && next.dialogId && next.guestToken) {
      adopt(next, true);
      socket.start();
    }
  });
  toParent({ type: "ready" });
  updateUnread();
}

start();
