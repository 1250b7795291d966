// Every dialog of the owner as the inbox shows it: the list read over REST, kept live by the inbox socket's feed.
//
// The list is read after the socket's `ready` (so no event falls between the two) and again
// only when the server says the feed cannot be replayed (`resync`, or a `ready` that names no
// position); otherwise a reconnect resumes the feed with since+epoch and the server sends what
// was missed. Applying an event twice changes nothing: a message counts once per dialog and
// seq, a status or read position is set, not added.
//
// The list comes in pages (dialogs waiting for a human first, then newest activity): the first
// page at start, the next ones when the operator asks for more. A re-read reads again every
// page shown so far. Between two page reads a dialog may move up the order; one that moved
// because something happened to it is announced on the feed and fetched on its own.

import { CLOSE } from "../shared/closecodes.js";
import { LiveSocket } from "../shared/socket.js";
import { get, socketUrl } from "./api.js";
import { FeedPosition } from "./feed.js";
import { visitorName } from "./format.js";
import { session } from "./session.js";

// A list that could not be read is asked for again after this long, doubling up to the cap.
const LIST_RETRY_MS = 2000;
const LIST_RETRY_CAP_MS = 15000;
// Dialogs per page of the list: a screenful many times over, and small enough to read fast.
export const PAGE_SIZE = 100;

/** Dialog summaries by id, updated from inbox events. */
export class InboxStore {
  constructor() {
    this.dialogs = new Map();
    this.assistants = new Map();
    this.listeners = new Set();
    this.connection = { state: "connecting" };
    this.activeId = null;
    this.loaded = false;
    this.pages = 1; // pages of the list shown; a re-read reads them all again
    this.more = false; // the last page read was full: there may be more
    this.feed = new FeedPosition();
    this.resumed = false; // the current socket was opened with a feed position
    this.syncing = null;
    this.again = false;
    this.held = [];
    this.listRetry = { timer: null, delay: 0 };
    this.fetching = new Map(); // dialog id -> events that arrived while its summary was fetched
    this.usedToken = null;
    this.socket = new LiveSocket({
      url: () => {
        this.usedToken = session.token;
        return socketUrl("/ws/dialogs", { token: session.token || "" });
      },
      resume: () => {
        const params = this.feed.params();
        this.resumed = this.feed.known;
        return params;
      },
      onEvent: (event) => this.onEvent(event),
      onState: (state) => {
        this.connection = state;
        if (state.state === "stopped" && state.code === CLOSE.UNAUTHORIZED) this.refused();
        this.emit();
      },
    });
  }

  start() {
    this.socket.start();
    this.loadAssistants();
  }

  stop() {
    this.stopped = true;
    this.socket.stop();
    clearTimeout(this.listRetry.timer);
    this.listRetry.timer = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this);
  }

  async loadAssistants() {
    try {
      const list = await get("/api/assistants");
      this.assistants = new Map(list.map((a) => [a.id, a.name]));
      this.emit();
    } catch {
      /* names are decoration; the list works without them */
    }
  }

  assistantName(id) {
    return this.assistants.get(id) || `#${id}`;
  }

  /** The socket's token was refused: reconnect with a newer one (a password change here), or the session is over. */
  async refused() {
    if ((await session.refused(this.usedToken)) && !this.stopped) this.socket.reconnect();
  }

  // ---- the feed ---------------------------------------------------------------------

  onEvent(event) {
    if (event.type === "ready") {
      // A resumed feed has sent what was missed (or `resync`) before `ready`: no list to read.
      const positioned = this.feed.moveTo(event);
      if (!this.resumed || !positioned || !this.loaded) this.reload();
      return;
    }
    if (event.type === "resync") {
      this.feed.moveTo(event);
      this.reload();
      return;
    }
    if (!this.feed.accept(event)) return;
    if (this.syncing) {
      this.held.push(event);
      return;
    }
    this.apply(event);
    this.emit();
  }

  /** Read every summary again (every page shown); events that arrive meanwhile are applied on top. */
  reload() {
    clearTimeout(this.listRetry.timer);
    this.listRetry.timer = null;
    // A list already on its way may predate what the feed has just been told it missed.
    if (this.syncing) this.again = true;
    else this.syncing = this.readList(0);
    return this.syncing;
  }

  /** The next page of the list, after those shown; resolves to false when it could not be read. */
  async loadMore() {
    if (this.syncing) return this.syncing.then(() => true);
    if (!this.more) return true;
    this.syncing = this.readList(this.pages);
    return this.syncing;
  }

  /** Read pages from `first` on: all pages shown when first is 0 (a re-read), else that one page. */
  async readList(first) {
    let read = false;
    let from = first;
    try {
      do {
        this.again = false;
        read = false;
        const dialogs = from === 0 ? new Map() : new Map(this.dialogs);
        let pages = from === 0 ? this.pages : from + 1;
        let full = false;
        for (let page = from; page < pages; page += 1) {
          const rows = await get(`/api/dialogs?limit=${PAGE_SIZE}&offset=${page * PAGE_SIZE}`);
          for (const d of rows) dialogs.set(d.id, d);
          full = rows.length === PAGE_SIZE;
          if (!full) pages = page + 1; // the list is shorter than it was: fewer pages now
        }
        this.dialogs = dialogs;
        this.pages = Math.max(1, pages);
        this.more = full;
        this.loaded = read = true;
        from = 0; // told to re-read meanwhile: every page again
      } while (this.again);
    } catch {
      /* keep what we have and try again shortly */
    } finally {
      const held = this.held;
      this.syncing = null;
      this.held = [];
      for (const event of held) this.apply(event);
      this.emit();
    }
    if (read) {
      this.listRetry.delay = 0;
    } else if (session.token && (from === 0 || this.again)) {
      // A failed re-read is tried again by itself; a failed "more" waits for the operator's next click.
      this.listRetry.delay = Math.min(LIST_RETRY_CAP_MS, Math.max(LIST_RETRY_MS, this.listRetry.delay * 2));
      this.listRetry.timer = setTimeout(() => this.reload(), this.listRetry.delay);
    }
    return read;
  }

  apply(event) {
    const id = event.dialog_id;
    if (id === null || id === undefined) return;
    const dialog = this.dialogs.get(id);
    if (!dialog) {
      if (this.fetching.has(id)) this.fetching.get(id).push(event);
      else if (event.type === "message" || event.type === "status") this.fetchOne(id);
      return;
    }
    if (event.type === "message") {
      const m = event.message;
      if (m.seq <= (dialog.last_message ? dialog.last_message.seq : 0)) return;
      dialog.last_message = { seq: m.seq, sender: m.sender, text: m.text, created_at: m.created_at, notice: m.notice, args: m.args };
      dialog.last_seq = Math.max(dialog.last_seq, m.seq);
      dialog.updated_at = m.created_at;
      dialog.unread = Math.max(0, dialog.last_seq - dialog.operator_read_seq);
    } else if (event.type === "status") {
      dialog.status = event.status;
      dialog.operator = event.operator;
    } else if (event.type === "read") {
      this.read(dialog, event.reader, event.seq);
    }
  }

  read(dialog, reader, seq) {
    if (!Number.isInteger(seq)) return;
    if (reader === "operator") {
      dialog.operator_read_seq = Math.max(dialog.operator_read_seq, seq);
      dialog.unread = Math.max(0, dialog.last_seq - dialog.operator_read_seq);
    } else if (reader === "user") {
      dialog.visitor_read_seq = Math.max(dialog.visitor_read_seq, seq);
    }
  }

  async fetchOne(id) {
    if (this.fetching.has(id)) return;
    this.fetching.set(id, []);
    try {
      const dialog = await get(`/api/dialogs/${id}`);
      this.dialogs.set(id, dialog);
      for (const event of this.fetching.get(id) || []) this.apply(event);
      if (!this.assistants.has(dialog.assistant_id)) this.loadAssistants();
      this.emit();
    } catch {
      // No reconnect re-reads the list any more: read it now, and again until it comes.
      if (session.token) this.reload();
    } finally {
      this.fetching.delete(id);
    }
  }

  // ---- what the panel's other parts tell the store ------------------------------------

  /** Put a summary fetched elsewhere (the dialog view) into the store. */
  put(dialog) {
    const known = this.dialogs.get(dialog.id);
    if (!known || (dialog.last_seq || 0) >= (known.last_seq || 0)) this.dialogs.set(dialog.id, dialog);
    this.emit();
  }

  /** Both sides' read positions, as a dialog socket's `ready` reports them. */
  readPositions(id, positions) {
    const dialog = this.dialogs.get(id);
    if (!dialog || !positions) return;
    this.read(dialog, "operator", positions.operator);
    this.read(dialog, "user", positions.user);
    this.emit();
  }

  setActive(id) {
    this.activeId = id;
    this.emit();
  }

  unread(dialog) {
    return dialog.id === this.activeId ? 0 : dialog.unread;
  }

  counts() {
    const counts = { active: 0, requested: 0, ai: 0, operator: 0, closed: 0 };
    for (const d of this.dialogs.values()) {
      counts[d.status] = (counts[d.status] || 0) + 1;
      if (d.status !== "closed") counts.active += 1;
    }
    return counts;
  }

  /** Waiting dialogs first, then newest activity first. */
  list(filter, query) {
    const needle = (query || "").trim().toLowerCase();
    const rows = [...this.dialogs.values()].filter((d) => {
      if (filter === "active" ? d.status === "closed" : d.status !== filter) return false;
      if (!needle) return true;
      const haystack = [visitorName(d.guest_id), d.guest_id, String(d.id), d.last_message?.text || "", this.assistantName(d.assistant_id)];
      return haystack.join(" ").toLowerCase().includes(needle);
    });
    return rows.sort((a, b) => {
      const waiting = (b.status === "requested") - (a.status === "requested");
      return waiting || (Date.parse(b.updated_at) || 0) - (Date.parse(a.updated_at) || 0) || b.id - a.id;
    });
  }
}
