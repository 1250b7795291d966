// A WebSocket that stays connected: heartbeat answers, backoff with decorrelated jitter,
// and a stop on the close codes after which retrying cannot help (see the wire contract).

export const PING = "__ping__";
export const PONG = "__pong__";

// Close codes after which reconnecting is pointless: the credential or the dialog is the problem.
// Every other code (1001 heartbeat, 1011, 1012 restart, 1013 capacity, 4008 limits) is retried.
export const UNAUTHORIZED = 4001;
const TERMINAL = new Set([UNAUTHORIZED, 4003, 4004]);

// First retry after about half a second; never wait more than 15 s between attempts.
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
// The server pings every 25 s and gives 20 s for the answer: total silence longer than
// this means the connection died without a close frame (sleeping laptop, dropped NAT).
const SILENCE_LIMIT_MS = 70000;

/** Decorrelated jitter: a random wait between base and three times the previous one, capped. */
export function nextDelay(previous) {
  const high = Math.max(BACKOFF_BASE_MS, previous * 3);
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS + Math.random() * (high - BACKOFF_BASE_MS));
}

/**
 * options: url() -> string (called on every attempt, so `since` stays current),
 * onEvent(event), onState({state, retryIn, code}), onTerminal(code, reason).
 * States: connecting, live (after `ready`), retrying, stopped.
 */
export class LiveSocket {
  constructor(options) {
    this.options = options;
    this.ws = null;
    this.delay = 0;
    this.timer = null;
    this.watchdog = null;
    this.stopped = true;
    this.live = false;
    this.onOnline = () => {
      if (!this.stopped && !this.ws) this.connectNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.connectNow();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    this.drop(1000);
    this.setState("stopped");
  }

  /** Send a JSON frame; false when the socket is not open (the caller keeps it for later). */
  send(payload) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(payload));
    return true;
  }

  connectNow() {
    clearTimeout(this.timer);
    this.drop(1000);
    this.live = false;
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.options.url());
    } catch {
      this.retry(null);
      return;
    }
    this.ws = ws;
    ws.onmessage = (frame) => this.receive(frame.data);
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.watchdog);
      if (this.stopped) return;
      if (TERMINAL.has(close.code)) {
        this.stopped = true;
        this.setState("stopped", { code: close.code });
        this.options.onTerminal?.(close.code, close.reason);
        return;
      }
      this.retry(close.code);
    };
    this.feedWatchdog();
  }

  receive(data) {
    this.feedWatchdog();
    if (data === PING) {
      this.ws?.send(PONG);
      return;
    }
    if (data === PONG) return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type === "ready") {
      this.live = true;
      this.delay = 0;
      this.setState("live");
    }
    this.options.onEvent(event);
  }

  retry(code) {
    this.live = false;
    this.delay = nextDelay(this.delay);
    this.setState("retrying", { retryIn: this.delay, code });
    this.timer = setTimeout(() => this.connectNow(), this.delay);
  }

  feedWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.stopped) return;
      this.drop(4000);
      this.retry(null);
    }, SILENCE_LIMIT_MS);
  }

  drop(code) {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close(code);
    } catch {
      /* already closing */
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.options.onState?.({ state, ...extra });
  }
}
