// The inbox feed's position (offset and epoch): where the socket resumes, and which events are new; no DOM, no I/O.
//
// docs/protocol.md ("The inbox feed") has the rules: every event of the owner's feed carries
// its offset under an epoch; a client resumes with since=offset&epoch=epoch and is either
// given what it missed or told to `resync`. An event without an offset (sent while the broker
// is away) is new but does not move the position.

export class FeedPosition {
  constructor() {
    this.offset = null;
    this.epoch = null;
  }

  /** True once the server has named a position. */
  get known() {
    return this.epoch !== null;
  }

  /** The socket's resume parameters: since and epoch once a position is known, none before. */
  params() {
    return this.known ? { since: this.offset, epoch: this.epoch } : {};
  }

  /** Take the position a `ready` or `resync` names; false when it names none (the broker could not say). */
  moveTo(event) {
    if (!Number.isInteger(event.offset) || typeof event.epoch !== "string" || !event.epoch) return false;
    this.offset = event.offset;
    this.epoch = event.epoch;
    return true;
  }

  /** An event of the feed: true when it is new (the position moves past it), false when it was had already. */
  accept(event) {
    if (!Number.isInteger(event.offset) || typeof event.epoch !== "string") return true;
    if (event.epoch === this.epoch && event.offset <= this.offset) return false;
    this.offset = event.offset;
    this.epoch = event.epoch;
    return true;
  }
}
