// The visitor's session (guest id, dialog, guest token, read position) kept across reloads.
//
// localStorage when the browser lets the iframe use it; otherwise (third-party
// storage blocked, private modes) an in-memory copy that lasts as long as the page.

function probe() {
  try {
    const storage = window.localStorage;
    const key = "replyx.probe";
    storage.setItem(key, "1");
    storage.removeItem(key);
    return storage;
  } catch {
    return null;
  }
}

export class SessionStore {
  /** One record per assistant, so two widgets on one site keep separate dialogs. */
  constructor(assistantId) {
    this.key = `replyx.chat.${assistantId}`;
    this.storage = probe();
    this.memory = {};
  }

  /** True when the record survives a reload. */
  get persistent() {
    return this.storage !== null;
  }

  /** The stored record: {guestId, dialogId, guestToken, readSeq}, possibly empty. */
  load() {
    if (this.storage) {
      try {
        const raw = this.storage.getItem(this.key);
        const data = raw ? JSON.parse(raw) : {};
        if (data && typeof data === "object") return data;
      } catch {
        // A corrupt or unreadable record is treated as absent.
      }
    }
    return { ...this.memory };
  }

  /** Merge the fields into the record. */
  save(fields) {
    const record = { ...this.load(), ...fields };
    this.memory = record;
    if (this.storage) {
      try {
        this.storage.setItem(this.key, JSON.stringify(record));
      } catch {
        this.storage = null;
      }
    }
    return record;
  }

  /** Calls back when another tab of the same visitor changes the record. */
  onChange(callback) {
    window.addEventListener("storage", (event) => {
      if (event.key === this.key) callback(this.load());
    });
  }
}
