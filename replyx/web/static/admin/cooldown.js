// A form told to wait (429 with Retry-After): its button stays disabled for those seconds while
// a message counts them down. Used by the login form and the password change.

import { replace } from "./dom.js";

// The countdown's step: whole seconds, as the message shows them.
const TICK_MS = 1000;

/**
 * Disable `button` for `seconds`, showing text(secondsLeft) in `message` (made visible);
 * when the time is up the button is enabled and the message hidden. Returns a function that
 * ends the wait early. Stops by itself once the button has left the page.
 */
export function cooldown({ button, message, seconds, text }) {
  const until = Date.now() + Math.max(1, seconds) * 1000;
  let timer = null;
  const stop = () => clearInterval(timer);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (!button.isConnected) {
      stop();
    } else if (left <= 0) {
      stop();
      button.disabled = false;
      message.hidden = true;
    } else {
      button.disabled = true;
      message.hidden = false;
      replace(message, text(left));
    }
  };
  tick();
  timer = setInterval(tick, TICK_MS);
  return stop;
}
