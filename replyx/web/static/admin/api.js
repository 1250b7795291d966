// REST client: JSON in and out, the Bearer token attached, a 401 ends the session.

import { session } from "./session.js";

// A request on a connection that died under it (the laptop slept, the network changed) would
// wait forever and hold up every reply queued behind it: give up and let the caller retry.
const REQUEST_TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, detail, code) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.code = code;
  }

  /** Worth retrying later (network down, server restarting or overloaded). */
  get transient() {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

/** Call the API; throws ApiError (status 0 when the network failed). */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
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
  if (response.status === 401 && path !== "/api/auth/login") {
    session.expire("expired");
  }
  if (!response.ok) {
    throw new ApiError(response.status, data && data.detail, data && data.code);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);

/** ws:// or wss:// URL of a socket path on this server. */
export function socketUrl(path, params) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams(params).toString();
  return `${scheme}://${location.host}${path}${query ? `?${query}` : ""}`;
}
