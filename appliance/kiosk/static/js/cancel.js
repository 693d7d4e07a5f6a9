// "Cancel exam" with a reason (simple choices), from the capture screen or the worklist.

import { api } from "./api.js";
import { byId } from "./dom.js";

const dialog = byId("cancel-dialog");
const form = byId("cancel-form");
const otherField = byId("reason-other-field");
const otherText = byId("reason-other-text");
const error = byId("cancel-error");
const confirm = byId("cancel-confirm");
let pending = null; // { examId, resolve }

function reason() {
  const choice = form.querySelector("input[name=cancel-reason]:checked");
  const value = choice ? choice.value : "Other";
  const extra = otherText.value.trim();
  return value === "Other" && extra ? `Other: ${extra}` : value;
}

function finish(session) {
  const done = pending;
  pending = null;
  dialog.close();
  if (done) done.resolve(session);
}

form.addEventListener("change", () => {
  otherField.hidden = !byId("reason-other").checked;
});

byId("cancel-keep").addEventListener("click", () => finish(null));
dialog.addEventListener("cancel", (event) => {
  event.preventDefault(); // Escape: same as "Keep the exam"
  finish(null);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!pending) return;
  confirm.disabled = true;
  error.textContent = "";
  try {
    const session = await api(`/api/exams/${pending.examId}/cancel`, { method: "POST", body: { reason: reason() } });
    finish(session);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    confirm.disabled = false;
  }
});

/** Asks why and cancels; resolves to the cancelled exam, or null when the technician kept it. */
export function askCancel(examId) {
  form.reset();
  otherField.hidden = true;
  error.textContent = "";
  dialog.showModal();
  return new Promise((resolve) => {
    pending = { examId, resolve };
  });
}

/** Closes the dialog without cancelling (wipe / sign-out). */
export function closeCancelDialog() {
  if (dialog.open) finish(null);
}
