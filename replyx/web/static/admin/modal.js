// A modal question built with dom.js's h() on the browser's own <dialog>: focus kept inside,
// Esc cancels, the page behind inert. Used where an action cannot be undone by one click.

import { h } from "./dom.js";
import { t } from "./i18n.js";

let counter = 0;

/**
 * Ask before a consequential action: resolves true when the operator confirms, false on
 * Cancel, Esc or when the panel closes it (closeModals). Text is shown as text.
 */
export function confirmDialog({ title, text, confirm, danger = false }) {
  counter += 1;
  const titleId = `modal-title-${counter}`;
  const textId = `modal-text-${counter}`;
  const cancelBtn = h("button", { type: "submit", class: "btn", value: "cancel", dataset: { answer: "cancel" } }, t("modal.cancel"));
  const confirmBtn = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, value: "confirm", dataset: { answer: "confirm" } }, confirm);
  const box = h(
    "dialog",
    { class: "modal", "aria-labelledby": titleId, "aria-describedby": textId },
    h(
      "form",
      { method: "dialog", class: "modal-card" },
      h("h2", { id: titleId }, title),
      h("p", { id: textId, class: "modal-text" }, text),
      h("div", { class: "modal-actions" }, cancelBtn, confirmBtn),
    ),
  );
  return new Promise((resolve) => {
    box.addEventListener("close", () => {
      box.remove();
      resolve(box.returnValue === "confirm");
    });
    document.body.append(box);
    box.showModal();
    // The safe answer has the focus: Enter alone never blocks anyone.
    cancelBtn.focus();
  });
}

/** Close every open question (the session ended under it): each resolves as cancelled. */
export function closeModals() {
  for (const box of document.querySelectorAll("dialog.modal[open]")) box.close("cancel");
}
