// REST client: JSON in and out, the Bearer token attached, a 401 ends the session.

import { session } from "./session.js";

// A request on a connection that died under it (the laptop slept, the network changed) would
// wait forever and hold up every reply queued behind it: give up and let the caller retry.
const REQUEST_TIMEOUT_MS = 15000;
// Routes whose 401 answers the password sent (wrong credentials), not the session: the caller
// shows it. A logout refused with 401 was over already; the panel logs out either way.
const CREDENTIAL_ROUTES = new Set(["/api/auth/login", "/api/auth/password", "/api/auth/logout"]);

export class ApiError extends Error {
  constructor(status, detail, code, retryAfter = null) {
    // FastAPI's 422 carries a list of problems, not a sentence: callers translate it by status.
    super(typeof detail === "string" && detail ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = typeof detail === "string" ? detail : null;
    this.code = code;
    // Seconds to wait, from a 429's Retry-After header (null when absent).
    this.retryAfter = retryAfter;
  }

  /** Worth retrying later (network down, server restarting or overloaded). */
  get transient() {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

/** Call the API; throws ApiError (status 0 when the network failed). */
export async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  const used = session.token;
  if (used) headers.Authorization = `Bearer ${used}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new ApiError(0, String(error && error.message ? error.message : error), "network");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (response.status === 401 && !CREDENTIAL_ROUTES.has(path)) {
    // Sent with a token a password change in this tab has just replaced: once more with the new one.
    if ((await session.refused(used)) && !retried) return api(method, path, body, true);
  }
  if (!response.ok) {
    const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, data && data.detail, data && data.code, Number.isFinite(wait) ? wait : null);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** ws:// or wss:// URL of a socket path on this server. */
export function socketUrl(path, params) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams(params).toString();
  return `${scheme}://${location.host}${path}${query ? `?${query}` : ""}`;
}
