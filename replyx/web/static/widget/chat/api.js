// The visitor REST API and the WebSocket URL, both relative to the page's own location.

// A request on a connection that died under it (the phone slept, the network changed) would
// wait forever and hold up the catch-up behind it: give up and let the caller retry.
const REQUEST_TIMEOUT_MS = 15000;

export class HttpError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }

  /** True when repeating the same request cannot succeed (bad credential, refused, gone). */
  get terminal() {
    return this.status === 401 || this.status === 403 || this.status === 404 || this.status === 422;
  }
}

function url(path) {
  // Relative to /chat-iframe, so a replyx served under a path prefix works unchanged.
  return new URL(path, document.baseURI);
}

async function request(method, path, { body, guestToken } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (guestToken) headers["X-Guest-Token"] = guestToken;
  const response = await fetch(url(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new HttpError(response.status, data && data.detail);
  return data;
}

export class VisitorApi {
  /** mode "site" (site token) or "widget" (assistant id), as the iframe's config says. */
  constructor(config) {
    this.mode = config.mode === "site" ? "site" : "widget";
    this.siteToken = config.siteToken || "";
    this.assistantId = config.assistantId;
  }

  /** Open or resume the guest's dialog: {dialog_id, guest_id, guest_token, status, last_seq}. */
  openDialog(guestId, guestToken) {
    const body = this.mode === "site" ? { site_token: this.siteToken } : { assistant_id: this.assistantId };
    if (guestId) body.guest_id = guestId;
    if (guestId && guestToken) body.guest_token = guestToken;
    return request("POST", `api/${this.mode}/dialogs`, { body });
  }

  /** Stored messages with since < seq <= until, oldest first. */
  async messages(session, since, until) {
    const query = new URLSearchParams({ since: String(since) });
    if (until !== undefined) query.set("until", String(until));
    const data = await request("GET", `api/${this.mode}/dialogs/${session.dialogId}/messages?${query}`, {
      guestToken: session.guestToken,
    });
    return data.messages;
  }

  /** Ask for a human operator. */
  handoff(session) {
    return request("POST", `api/${this.mode}/dialogs/${session.dialogId}/handoff`, {
      guestToken: session.guestToken,
    });
  }

  /** The dialog's socket URL: wss:// on https pages, ws:// on http, on this page's own host (the socket adds `since`). */
  socketUrl(session) {
    const target = url(`ws/${this.mode}/dialogs/${session.dialogId}`);
    target.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams();
    if (this.mode === "site") query.set("site_token", this.siteToken);
    else query.set("assistant_id", String(this.assistantId));
    query.set("guest_token", session.guestToken);
    target.search = query.toString();
    return target.href;
  }
}
