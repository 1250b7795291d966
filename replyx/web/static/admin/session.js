// The operator's session: the JWT and the unsent work (drafts, outbox) kept in sessionStorage,
// so an expired login or a reload never loses what the operator typed.

const TOKEN_KEY = "replyx.token";
const DRAFTS_KEY = "replyx.drafts";
const OUTBOX_KEY = "replyx.outbox";
// client_ids of the operator's own replies, kept per operator in localStorage so that
// "You" labels survive reloads and new tabs; only the newest are remembered.
const MINE_PREFIX = "replyx.mine.";
const MINE_LIMIT = 2000;

const expiredListeners = new Set();

function readJson(key, fallback) {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function writeJson(key, value) {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the session still works, it just will not survive a reload */
  }
}

export const session = {
  me: null,
  // While a password change is answered: the promise of its outcome. The change ends every
  // other session, and this tab's own sockets (opened with the old token) close with 4001
  // before or after the answer arrives; refused() waits for it instead of logging out.
  renewing: null,

  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },

  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },

  /** The credential is gone or expired: listeners show the login form; drafts stay. */
  expire(reason) {
    if (!this.token && !this.me) return;
    this.token = null;
    this.me = null;
    for (const listener of expiredListeners) listener(reason);
  },

  onExpired(listener) {
    expiredListeners.add(listener);
  },

  /**
   * The server refused the token `used` (a REST 401, a socket closed with 4001). True when a
   * newer token has replaced it meanwhile (a password change in this tab): the caller tries
   * again with session.token. Otherwise the session has ended: the login form is shown, false.
   */
  async refused(used) {
    if (this.renewing) await this.renewing.catch(() => {});
    if (this.token && this.token !== used) return true;
    this.expire("expired");
    return false;
  },

  /** Run a password change (change() promises the new token); sockets refused meanwhile wait for it. */
  renew(change) {
    const renewing = change().then((token) => {
      this.token = token;
      return token;
    });
    this.renewing = renewing;
    const settled = () => {
      if (this.renewing === renewing) this.renewing = null;
    };
    renewing.then(settled, settled);
    return renewing;
  },

  /** Explicit log out (the server has been told, or could not be): forget everything of this session. */
  logout() {
    for (const key of [DRAFTS_KEY, OUTBOX_KEY]) sessionStorage.removeItem(key);
    this.expire("logout");
  },

  draft(dialogId) {
    return readJson(DRAFTS_KEY, {})[dialogId] || "";
  },

  saveDraft(dialogId, text) {
    const drafts = readJson(DRAFTS_KEY, {});
    if (text) drafts[dialogId] = text;
    else delete drafts[dialogId];
    writeJson(DRAFTS_KEY, drafts);
  },

  /** Replies not yet echoed by the server, per dialog: [{client_id, text, state, error}]. */
  outbox(dialogId) {
    return readJson(OUTBOX_KEY, {})[dialogId] || [];
  },

  saveOutbox(dialogId, entries) {
    const all = readJson(OUTBOX_KEY, {});
    const kept = entries.map(({ client_id, text, state, error }) => ({ client_id, text, state, error }));
    if (kept.length) all[dialogId] = kept;
    else delete all[dialogId];
    writeJson(OUTBOX_KEY, all);
  },

  mineList() {
    const key = MINE_PREFIX + (this.me ? this.me.id : 0);
    if (this.mineKey !== key) {
      let list = [];
      try {
        list = JSON.parse(localStorage.getItem(key) || "[]");
      } catch {
        list = [];
      }
      this.mineKey = key;
      this.mine = Array.isArray(list) ? list : [];
      this.mineSet = new Set(this.mine);
    }
    return this.mine;
  },

  rememberMine(clientId) {
    const list = this.mineList().concat(clientId).slice(-MINE_LIMIT);
    this.mine = list;
    this.mineSet = new Set(list);
    try {
      localStorage.setItem(this.mineKey, JSON.stringify(list));
    } catch {
      /* labels only */
    }
  },

  isMine(clientId) {
    if (!clientId) return false;
    this.mineList();
    return this.mineSet.has(clientId);
  },
};
