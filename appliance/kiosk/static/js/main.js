// The technician's kiosk: who is signed in, the camera, the screens (new exam, capture, result,
// worklist), sign-out and the idle warning.

import { api, onSignedOut, setCsrfToken } from "./api.js";
import { initCapture } from "./capture.js";
import { byId, setText } from "./dom.js";
import { startIdleWatch } from "./idle.js";
import "./newexam.js";
import "./worklist.js";
import { kiosk, leaveForSignIn, navigate, showError, wipeAll } from "./ui.js";

onSignedOut((message, code) => leaveForSignIn(code === "signed_out_idle" ? "idle" : ""));

for (const nav of document.querySelectorAll(".nav-button[data-screen]")) {
  nav.addEventListener("click", () => {
    wipeAll();
    navigate(nav.dataset.screen);
  });
}

byId("sign-out").addEventListener("click", async () => {
  byId("sign-out").disabled = true;
  try {
    await api("/api/session", { method: "DELETE" });
  } catch {
    // Signed out already, or the appliance did not answer: the page is wiped either way.
  }
  leaveForSignIn("");
});

// Back from another page (the browser's page cache): start again from the server's state.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});

async function start() {
  const state = await api("/api/session");
  if (!state.signed_in) {
    leaveForSignIn(state.ended === "signed_out_idle" ? "idle" : "");
    return;
  }
  setCsrfToken(state.csrf_token);
  kiosk.user = state.user;
  kiosk.role = state.role;
  kiosk.idleWarningS = state.idle_warning_s;
  setText("user-name", state.display_name || state.user);
  setText("user-role", `(${state.role === "admin" ? "administrator" : state.role})`);
  byId("nav-admin").hidden = state.role !== "admin";
  try {
    kiosk.camera = await api("/api/camera");
  } catch (err) {
    showError(err);
  }
  initCapture();
  startIdleWatch(state);
  await navigate("new");
}

start().catch(showError);
