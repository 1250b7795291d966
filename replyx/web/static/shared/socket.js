// The one WebSocket client of both front ends: heartbeat, close-code policy, jittered reconnect, resume from a position.
//
// A LiveSocket keeps one connection to one endpoint for as long as it is started.
// It answers the server's __ping__, and when the server has been silent for a
// while it sends its own __ping__ and gives the answer a few seconds before it
// drops the socket as dead (a sleeping laptop, a NAT that forgot the
// connection: no close frame ever comes). It stops on the close codes after
// which retrying cannot help and otherwise reconnects with decorrelated
// jitter, asking for everything after the caller's position (`since`, and
// the inbox's `epoch`) so the server replays what was missed. When the page
// runs again after sleep, a freeze, a network change or the back/forward
// cache (shared/lifecycle.js) it checks the socket at once instead of waiting
// for a close event that may never come. docs/realtime.md describes the
// server's half.
//
// States, reported through onState({state, retryIn, code}):
//   idle        not started, or stopped by stop(); start() connects
//   connecting  opening a socket, or receiving the replay before `ready`
//   live        the server sent `ready`
//   retrying    waiting retryIn ms before the next attempt
//   stopped     closed with a terminal code (or refused before connecting); only reconnect() tries again

import { isTerminal } from "./closecodes.js";
import { watchPage } from "./lifecycle.js";

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
// After a wake a live connection answers a __ping__ in one round trip; a phone on a slow
// network needs a second or two, and a needless reconnect only costs a short replay.
const WAKE_PROBE_TIMEOUT_MS = 4000;

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
   * resume(): optional, the query parameters of the caller's position, added on every attempt
   * ({since: 41, epoch: "9c0e"}; a null or undefined value is left out);
   * since(): optional shorthand for resume() => ({since: since()}), a dialog's last seq;
   * onEvent(event): every JSON event; onState({state, retryIn, code}).
   */
  constructor({ url, since = null, resume = null, onEvent, onState = () => {} }) {
    this.url = url;
    this.resume = resume || (since ? () => ({ since: since() }) : () => ({}));
    this.onEvent = onEvent;
    this.onState = onState;
    this.state = "idle";
    this.ws = null;
    this.delay = 0;
    this.retryTimer = null;
    this.watchTimer = null;
    this.lastHeard = 0;
    this.attemptedAt = 0;
    this.probing = false;
    this.suspended = false;
    this.generation = 0;
    this.unwatch = null;
  }

  /** True once the server sent `ready` on the current socket. */
  get live() {
    return this.state === "live";
  }

  /** Connect if idle, or at once if waiting to retry or let go; a live, connecting or stopped socket is left alone. */
  start() {
    if (this.state === "idle" || this.state === "retrying" || this.suspended) this.attempt();
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

  /**
   * The page runs again (shared/lifecycle.js): reconnect now if the socket is gone, waiting to
   * retry or let go for the back/forward cache; otherwise make it prove it is alive within a few
   * seconds. check: probe even a socket heard from a moment ago (what arrives right after a
   * resume may have been queued before the network died).
   */
  wake(check = true) {
    if (this.suspended || this.state === "retrying") {
      this.attempt();
      return;
    }
    if (this.state !== "live" && this.state !== "connecting") return;
    const ws = this.ws;
    if (!ws) return; // still asking url() for the endpoint
    if (ws.readyState === WebSocket.CONNECTING) {
      // An attempt begun before the page slept is not worth waiting for.
      if (Date.now() - this.attemptedAt > WAKE_PROBE_TIMEOUT_MS) this.attempt();
    } else if (ws.readyState !== WebSocket.OPEN) {
      this.attempt(); // closed while the page could not run; its close event has not come yet
    } else if (check || Date.now() - this.lastHeard > WAKE_PROBE_AFTER_MS) {
      this.probe(WAKE_PROBE_TIMEOUT_MS);
    }
  }

  /** The page is left or goes into the back/forward cache: close the socket; wake() reconnects. */
  suspend() {
    if (this.state !== "live" && this.state !== "connecting" && this.state !== "retrying") return;
    this.detach();
    this.suspended = true;
    // What the page shows if it comes back: it reconnects first thing.
    this.setState("connecting");
  }

  async attempt() {
    this.detach();
    this.listen();
    this.suspended = false;
    this.attemptedAt = Date.now();
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
    for (const [name, value] of Object.entries(this.resume())) {
      if (value !== null && value !== undefined) target.searchParams.set(name, String(value));
    }
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
    // While a probe waits, only its __pong__ proves the socket alive: other frames may have
    // been queued before the page froze and the network went away.
    if (!this.probing || data === PONG) this.heard();
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
    this.probing = false;
    this.watch(PROBE_AFTER_MS, () => this.probe());
  }

  /** Send our __ping__ and drop the socket unless the answer comes within timeout ms. */
  probe(timeout = PROBE_TIMEOUT_MS) {
    if (this.probing) return;
    if (!this.sendRaw(PING)) return;
    this.probing = true;
    this.watch(timeout, () => this.abandon());
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
    this.probing = false;
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
    if (this.unwatch) return;
    this.unwatch = watchPage({ wake: (check) => this.wake(check), hide: () => this.suspend() });
  }

  unlisten() {
    this.suspended = false;
    if (this.unwatch) this.unwatch();
    this.unwatch = null;
  }

  setState(state, extra = {}) {
    this.state = state;
    this.onState({ state, ...extra });
  }
}
