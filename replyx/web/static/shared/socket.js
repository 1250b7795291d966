// The one WebSocket client of both front ends: heartbeat, close-code policy, jittered reconnect, `since` resume.
//
// A LiveSocket keeps one connection to one endpoint for as long as it is started.
// It answers the server's __ping__, and when the server has been silent for a
// while it sends its own __ping__ and gives the answer a few seconds before it
// drops the socket as dead (a sleeping laptop, a NAT that forgot the
// connection: no close frame ever comes). It stops on the close codes after
// which retrying cannot help and otherwise reconnects with decorrelated
// jitter, asking for everything after `since()` so the server replays what
// was missed. docs/realtime.md describes the server's half.
//
// States, reported through onState({state, retryIn, code}):
//   idle        not started, or stopped by stop(); start() connects
//   connecting  opening a socket, or receiving the replay before `ready`
//   live        the server sent `ready`
//   retrying    waiting retryIn ms before the next attempt
//   stopped     closed with a terminal code (or refused before connecting); only reconnect() tries again

import { isTerminal } from "./closecodes.js";

export const PING = "__ping__";
export const PONG = "__pong__";

// The first retry comes quickly: most drops are a server restart or a network blip.
const BACKOFF_BASE_MS = 500;
// Nobody waits much more than this after the server is back.
const BACKOFF_CAP_MS = 15000;
// The server pings every 25 s by default; longer silence means the socket may be dead.
const PROBE_AFTER_MS = 30000;
// An unanswered __ping__ of ours for this long: drop the socket and reconnect.
const PROBE_TIMEOUT_MS = 10000;
// A socket that has not opened after this long is abandoned and retried.
const CONNECT_TIMEOUT_MS = 15000;
// A tab coming back into view probes at once if the socket was quiet for longer than this.
const WAKE_PROBE_AFTER_MS = 2500;

/** Decorrelated jitter: a random wait between the base and three times the previous one, capped. */
export function nextDelay(previous, random = Math.random) {
  const high = Math.max(BACKOFF_BASE_MS, previous * 3);
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS + random() * (high - BACKOFF_BASE_MS));
}

/** Thrown by a url() callback that cannot produce a URL; a terminal closeCode stops the socket. */
export class ConnectError extends Error {
  constructor(message, closeCode = 0) {
    super(message);
    this.closeCode = closeCode;
  }
}

export class LiveSocket {
  /**
   * url(): the endpoint with its credentials, a string or a promise of one, asked before every attempt;
   * since(): optional, the last seq the caller holds, sent as `since` on every attempt;
   * onEvent(event): every JSON event; onState({state, retryIn, code}).
   */
  constructor({ url, since = null, onEvent, onState = () => {} }) {
    this.url = url;
    this.since = since;
    this.onEvent = onEvent;
    this.onState = onState;
    this.state = "idle";
    this.ws = null;
    this.delay = 0;
    this.retryTimer = null;
    this.watchTimer = null;
    this.lastHeard = 0;
    this.generation = 0;
    this.listening = false;
    this.onOnline = () => this.retryNow();
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.wake();
    };
  }

  /** True once the server sent `ready` on the current socket. */
  get live() {
    return this.state === "live";
  }

  /** Connect if idle, or at once if waiting to retry; a live, connecting or stopped socket is left alone. */
  start() {
    if (this.state === "idle" || this.state === "retrying") this.attempt();
  }

  /** Close the socket, clear every timer and listener, and go idle. */
  stop() {
    this.detach();
    this.unlisten();
    this.delay = 0;
    this.setState("idle");
  }

  /** Drop the current socket and connect again at once, even after a terminal stop. */
  reconnect() {
    this.attempt();
  }

  /** Skip the current back-off wait. */
  retryNow() {
    if (this.state === "retrying") this.attempt();
  }

  /** Send one JSON frame; false when no socket is open (the caller keeps the frame for later). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** After sleep or a hidden tab: reconnect now, or check that a quiet socket still answers. */
  wake() {
    if (this.state === "retrying") this.attempt();
    else if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastHeard > WAKE_PROBE_AFTER_MS) {
      this.probe();
    }
  }

  async attempt() {
    this.detach();
    this.listen();
    const generation = this.generation;
    this.setState("connecting");
    let target;
    try {
      target = new URL(await this.url());
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof ConnectError && isTerminal(error.closeCode)) this.halt(error.closeCode);
      else this.schedule(0);
      return;
    }
    if (generation !== this.generation) return;
    if (this.since) target.searchParams.set("since", String(this.since()));
    let ws;
    try {
      ws = new WebSocket(target.href);
    } catch {
      this.schedule(0);
      return;
    }
    this.ws = ws;
    this.watch(CONNECT_TIMEOUT_MS, () => this.abandon());
    ws.onopen = () => this.heard();
    ws.onmessage = (frame) => this.receive(frame.data);
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(close.code);
    };
  }

  receive(data) {
    this.heard();
    if (data === PING) {
      this.sendRaw(PONG);
      return;
    }
    if (data === PONG || typeof data !== "string") return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (!event || typeof event !== "object") return;
    if (event.type === "ready") {
      // The replay is complete: the next outage starts from the base delay again.
      this.delay = 0;
      this.setState("live");
    }
    this.onEvent(event);
  }

  closed(code) {
    clearTimeout(this.watchTimer);
    if (isTerminal(code)) this.halt(code);
    else this.schedule(code);
  }

  /** Something came from the server: it is alive; probe again only after another silence. */
  heard() {
    this.lastHeard = Date.now();
    this.watch(PROBE_AFTER_MS, () => this.probe());
  }

  probe() {
    if (!this.sendRaw(PING)) return;
    this.watch(PROBE_TIMEOUT_MS, () => this.abandon());
  }

  /** The socket is dead without a close frame (or never opened): drop it and retry. */
  abandon() {
    this.detach();
    this.schedule(0);
  }

  /** Arm the one watchdog: a socket is either opening, quiet, or awaiting a probe's answer. */
  watch(ms, then) {
    clearTimeout(this.watchTimer);
    this.watchTimer = setTimeout(then, ms);
  }

  schedule(code) {
    clearTimeout(this.retryTimer);
    this.delay = nextDelay(this.delay);
    this.setState("retrying", { retryIn: this.delay, code: code || undefined });
    this.retryTimer = setTimeout(() => this.attempt(), this.delay);
  }

  halt(code) {
    this.detach();
    this.unlisten();
    this.setState("stopped", { code });
  }

  sendRaw(text) {
    try {
      this.ws.send(text);
      return true;
    } catch {
      return false; // closing already: the close event follows
    }
  }

  /** Forget the current socket and every timer; an attempt still awaiting url() is cancelled. */
  detach() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchTimer);
    this.retryTimer = this.watchTimer = null;
    this.generation += 1;
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(1000);
    } catch {
      // Already closing.
    }
  }

  listen() {
    if (this.listening) return;
    this.listening = true;
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
  }

  unlisten() {
    this.listening = false;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  setState(state, extra = {}) {
    this.state = state;
    this.onState({ state, ...extra });
  }
}
