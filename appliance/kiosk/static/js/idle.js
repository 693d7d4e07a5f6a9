// The idle warning: GET /api/session is polled (reading it is no activity for the server); when the
// sign-in is about to end a modal says so, and "Stay signed in" makes an activity request. When it has
// ended, every patient datum leaves the page before the sign-in page shows.

import { api } from "./api.js";
import { byId } from "./dom.js";
import { kiosk, leaveForSignIn } from "./ui.js";

const dialog = byId("idle-dialog");
const secondsText = byId("idle-seconds");
const ACTIVITY_PING_MS = 15000;
let deadline = 0; // ms, local clock: when the server will end the sign-in
let timer = 0;
let lastPing = Date.now();

function secondsLeft() {
  return Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
}

function tick() {
  const left = secondsLeft();
  if (left <= kiosk.idleWarningS) {
    secondsText.textContent = String(left);
    if (!dialog.open) dialog.showModal();
  } else if (dialog.open) {
    dialog.close();
  }
}

async function poll() {
  try {
    const state = await api("/api/session");
    if (!state.signed_in) {
      leaveForSignIn(state.ended === "signed_out_idle" ? "idle" : "");
      return;
    }
    deadline = Date.now() + state.seconds_left * 1000;
    tick();
  } catch {
    // The appliance did not answer: keep counting down locally and ask again.
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  const left = secondsLeft();
  // Often enough to warn in time; every second while the warning shows.
  const every = left <= kiosk.idleWarningS + 1 ? 1 : Math.min(5, Math.max(1, kiosk.idleWarningS / 2));
  timer = setTimeout(poll, every * 1000);
}

/** Any request but the poll counts as activity on the server. */
async function activity() {
  lastPing = Date.now();
  try {
    await api("/api/camera");
  } catch {
    // A 401 here already leads to the sign-in page (api.js).
  }
  clearTimeout(timer);
  await poll();
}

byId("stay-signed-in").addEventListener("click", async () => {
  dialog.close();
  await activity();
});
dialog.addEventListener("cancel", (event) => {
  event.preventDefault(); // Escape is activity too
  dialog.close();
  activity();
});

/** Starts the polling from a first /api/session answer. */
export function startIdleWatch(state) {
  deadline = Date.now() + (state.seconds_left ?? state.idle_timeout_s) * 1000;
  // A touch on the screen is someone at the kiosk: tell the server now and then (API calls already do).
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => {
      if (!dialog.open && Date.now() - lastPing > ACTIVITY_PING_MS) activity();
    }, { passive: true });
  }
  setInterval(() => {
    if (deadline) tick();
  }, 1000);
  schedule();
}
