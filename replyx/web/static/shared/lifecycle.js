// The page events after which a long-lived connection must be checked, or let go for the back/forward cache.
//
// A phone that locks its screen, a laptop that sleeps, a tab the browser froze: such a page
// gets no close event while it cannot run, and when it runs again its socket may have died
// long ago without telling anyone. So every event that means "this page runs again" (the tab
// became visible, the network came back, a frozen page resumed, a page came back from the
// back/forward cache) asks the connection to check itself. Leaving the page (pagehide) lets
// the connection go: a page with an open WebSocket is kept out of Chromium's back/forward
// cache, and one whose socket is closed can be restored and reconnect (docs/widget.md).

/**
 * wake(check): the page runs again; check is true when even a socket heard from a moment ago
 * may be dead (network back, resumed, restored), false for a tab that only became visible.
 * hide(): the page is being left or put in the back/forward cache.
 * Returns a function that removes every listener.
 */
export function watchPage({ wake, hide }) {
  const listeners = [
    [document, "visibilitychange", () => document.visibilityState === "visible" && wake(false)],
    [window, "online", () => wake(true)],
    [document, "resume", () => wake(true)],
    [window, "pageshow", (event) => event.persisted && wake(true)],
    [window, "pagehide", () => hide()],
  ];
  for (const [target, type, listener] of listeners) target.addEventListener(type, listener);
  return () => {
    for (const [target, type, listener] of listeners) target.removeEventListener(type, listener);
  };
}
