// The server's WebSocket close codes, each with whether reconnecting can help.
//
// TABLE is JSON (a JavaScript literal with nothing JSON lacks), so that
// tests/unit/test_client_close_codes.py can read it and compare it with the
// server's own table, replyx.realtime.protocol.CLOSE_CODES: the two cannot drift.

const TABLE = [
  { "code": 1001, "name": "HEARTBEAT_TIMEOUT", "retryable": true, "reason": "heartbeat timeout" },
  { "code": 1009, "name": "FRAME_TOO_LARGE", "retryable": false, "reason": "frame too large" },
  { "code": 1011, "name": "INTERNAL_ERROR", "retryable": true, "reason": "internal error" },
  { "code": 1012, "name": "SERVER_RESTARTING", "retryable": true, "reason": "server restarting" },
  { "code": 1013, "name": "AT_CAPACITY", "retryable": true, "reason": "server at capacity" },
  { "code": 4001, "name": "UNAUTHORIZED", "retryable": false, "reason": "missing, invalid or expired credential" },
  { "code": 4003, "name": "FORBIDDEN", "retryable": false, "reason": "forbidden" },
  { "code": 4004, "name": "NOT_FOUND", "retryable": false, "reason": "dialog not found" },
  { "code": 4008, "name": "TOO_MANY", "retryable": true, "reason": "too many connections or messages" }
];

/** Every close code the server sends: code -> {code, name, retryable, reason}. */
export const CLOSE_CODES = new Map(TABLE.map((entry) => [entry.code, Object.freeze(entry)]));

/** The codes by name, e.g. CLOSE.UNAUTHORIZED === 4001. */
export const CLOSE = Object.freeze(Object.fromEntries(TABLE.map((entry) => [entry.name, entry.code])));

/**
 * True when reconnecting after this code cannot help (the credential, the dialog or the
 * frame is the problem). Codes the server does not send (1006 when the network drops the
 * connection, 1000) are worth another attempt.
 */
export function isTerminal(code) {
  const known = CLOSE_CODES.get(code);
  return Boolean(known && !known.retryable);
}
