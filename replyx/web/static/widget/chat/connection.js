// The dialog's WebSocket: heartbeats, reconnecting with jitter, and the close codes that end it.
//
// Reconnection never gives up on a retryable close; it waits with decorrelated
// jitter (each delay random between the base and three times the previous one,
// capped), and tries at once when the browser comes back online or the tab
// becomes visible. docs/widget.md describes the whole recovery.

/** Close codes after which reconnecting cannot help (credential, forbidden, dialog gone). */
export const TERMINAL_CODES = new Set([4001, 4003, 4004]);

// The first retry comes quickly: most drops are a server restart or a network blip.
const BASE_DELAY_MS = 500;
// A visitor never waits much more than this after the server is back.
const MAX_DELAY_MS = 15000;
// The server pings every 25 s by default; longer silence means the socket may be dead.
const PROBE_AFTER_MS = 30000;
// An unanswered __ping__ of ours for this long: drop the socket and reconnect.
const PROBE_TIMEOUT_MS = 10000;
// A socket that has not opened after this long is abandoned and retried.
const CONNECT_TIMEOUT_MS = 15000;
// How often the watchdog looks at the socket.
const WATCH_EVERY_MS = 2500;

export class ConnectError extends Error {
  /** A failure before the socket exists; terminal ones carry the close code they stand for. */
  constructor(message, { terminal = false, code = 0 } = {}) {
    super(message);
    this.terminal = terminal;
    this.code = code;
  }
}

export class ChatSocket {
  /**
   * connectUrl: async () => the URL to open now (throws ConnectError);
   * onFrame(event): every JSON event; onState(state, code): idle|connecting|open|waiting|stopped.
   */
  constructor({ connectUrl, onFrame, onState }) {
    this.connectUrl = connectUrl;
    this.onFrame = onFrame;
    this.onState = onState;
    this.state = "idle";
    this.ws = null;
    this.timer = null;
    this.delay = BASE_DELAY_MS;
    this.generation = 0;
    this.startedAt = 0;
    this.lastHeard = 0;
    this.probeSentAt = 0;
    setInterval(() => this.watch(), WATCH_EVERY_MS);
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake();
    });
  }

  /** True when frames can be sent. */
  get isOpen() {
    return this.state === "open" && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Connect unless already connecting, connected or stopped for good. */
  start() {
    if (this.state === "idle" || this.state === "waiting") this.attempt();
  }

  /** Skip the current back-off wait. */
  retryNow() {
    if (this.state === "waiting") this.attempt();
  }

  /** Drop the current socket (if any) and connect again at once, even after a stop. */
  reconnect() {
    this.detach();
    this.attempt();
  }

  /** Forget the socket and wait for start(); used when the visitor begins a new dialog. */
  reset() {
    this.detach();
    this.delay = BASE_DELAY_MS;
    this.setState("idle");
  }

  /** The connection delivered its replay: the next outage starts from the base delay again. */
  healthy() {
    this.delay = BASE_DELAY_MS;
  }

  /** Send one JSON frame; false when the socket is not open. */
  send(frame) {
    if (!this.isOpen) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** After sleep or a hidden tab: reconnect now, or check that the open socket still answers. */
  wake() {
    if (this.state === "waiting") this.attempt();
    else if (this.isOpen && Date.now() - this.lastHeard > WATCH_EVERY_MS) this.probe();
  }

  setState(state, code) {
    this.state = state;
    this.onState(state, code);
  }

  detach() {
    clearTimeout(this.timer);
    this.timer = null;
    this.generation += 1;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        // Already closing.
      }
    }
  }

  async attempt() {
    this.detach();
    const generation = this.generation;
    this.startedAt = Date.now();
    this.setState("connecting");
    let target;
    try {
      target = await this.connectUrl();
    } catch (error) {
      if (generation !== this.generation) return;
      if (error && error.terminal) this.stop(error.code);
      else this.schedule();
      return;
    }
    if (generation !== this.generation) return;
    let ws;
    try {
      ws = new WebSocket(target);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      this.probeSentAt = 0;
      this.setState("open");
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onerror = () => {};
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dropped(event.code);
    };
  }

  receive(data) {
    this.lastHeard = Date.now();
    this.probeSentAt = 0;
    if (data === "__ping__") {
      try {
        this.ws.send("__pong__");
      } catch {
        // The close event follows.
      }
      return;
    }
    if (data === "__pong__" || typeof data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame && typeof frame === "object") this.onFrame(frame);
  }

  dropped(code) {
    if (this.state === "stopped") return;
    if (TERMINAL_CODES.has(code)) this.stop(code);
    else this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    // Decorrelated jitter: spreads a crowd of reconnecting widgets, grows quickly, stays capped.
    this.delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS + Math.random() * (this.delay * 3 - BASE_DELAY_MS));
    this.setState("waiting");
    this.timer = setTimeout(() => this.attempt(), this.delay);
  }

  stop(code) {
    this.detach();
    this.setState("stopped", code);
  }

  probe() {
    if (this.probeSentAt) return;
    try {
      this.ws.send("__ping__");
      this.probeSentAt = Date.now();
    } catch {
      // The close event follows.
    }
  }

  watch() {
    const now = Date.now();
    if (this.state === "connecting" && this.ws && now - this.startedAt > CONNECT_TIMEOUT_MS) {
      this.detach();
      this.schedule();
    } else if (this.state === "open") {
      if (this.probeSentAt && now - this.probeSentAt > PROBE_TIMEOUT_MS) {
        this.detach();
        this.schedule();
      } else if (now - this.lastHeard > PROBE_AFTER_MS) {
        this.probe();
      }
    }
  }
}
