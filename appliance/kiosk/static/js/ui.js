// Which screen shows, the page-wide message line, and the wipe of every patient datum.

import { byId } from "./dom.js";

const SCREENS = ["new", "capture", "result", "exam-info", "worklist"];
const enterHooks = new Map();
const wipers = [];
const blobUrls = new Set();

/** Who is signed in and what the camera can do (filled by main.js). */
export const kiosk = { user: null, role: "", camera: { kind: "", demo_kinds: [] }, idleWarningS: 30 };

/** `hook(arg)` runs each time `name` is shown with navigate(). */
export function onEnter(name, hook) {
  enterHooks.set(name, hook);
}

/** `wipe()` must remove every patient datum its module put on the page. */
export function onWipe(wipe) {
  wipers.push(wipe);
}

export function showScreen(name) {
  for (const screen of SCREENS) byId(`screen-${screen}`).hidden = screen !== name;
  for (const nav of document.querySelectorAll(".nav-button[data-screen]")) {
    if (nav.dataset.screen === name) nav.setAttribute("aria-current", "page");
    else nav.removeAttribute("aria-current");
  }
  const heading = byId(`screen-${name}`).querySelector("h1");
  if (heading && document.activeElement?.tagName !== "INPUT") heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

export async function navigate(name, arg) {
  clearMessage();
  const hook = enterHooks.get(name);
  showScreen(name);
  if (hook) await hook(arg);
}

export function showMessage(text, kind = "error") {
  const box = byId("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

export function clearMessage() {
  showMessage("");
}

/** Shows an ApiError's sentence (or any error's, without its stack). */
export function showError(err) {
  showMessage(err && err.message ? err.message : "Something went wrong. Try again.", "error");
}

/** A blob: URL that the next wipe revokes. */
export function keepBlobUrl(blob) {
  const url = URL.createObjectURL(blob);
  blobUrls.add(url);
  return url;
}

/** Remove every patient datum from the page (New exam, sign-out, idle timeout). */
export function wipeAll() {
  for (const wipe of wipers) wipe();
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls.clear();
  clearMessage();
}

/** The end of a sign-in: nothing of a patient stays in the page, then the sign-in page. */
let leaving = false;

export function leaveForSignIn(reason = "") {
  if (leaving) return;
  leaving = true;
  wipeAll();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  byId("main").replaceChildren();
  window.location.replace(reason ? `/sign-in?reason=${reason}` : "/sign-in");
}
