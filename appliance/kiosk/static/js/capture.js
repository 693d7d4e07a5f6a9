// Capture: right eye then left eye, one or two photos each, every photo judged at once by the gate.

import { api } from "./api.js";
import { askCancel, closeCancelDialog } from "./cancel.js";
import { EYE_WORDS, FIELD_WORDS, button, byId, dateWords, el, setText, sexWords } from "./dom.js";
import { showResult } from "./result.js";
import { clearMessage, kiosk, navigate, onWipe, showError, showMessage, showScreen, wipeAll } from "./ui.js";

const MAX_PER_EYE = 2;
const KIND_WORDS = { healthy: "Healthy", referable: "Referable DR", blurred: "Blurred", dark: "Too dark",
  offcentre: "Off-centre" };

const shoot = byId("shoot");
const finishButton = byId("finish");
let exam = null;
let eye = "right";
let demoKind = "";
let busy = false;

const photosInUse = (which) => {
  const ids = new Set(exam.eyes[which].photos_in_use);
  return exam.photos.filter((p) => ids.has(p.photo_id));
};
const eyeName = (which) => EYE_WORDS[which].toLowerCase();

/** Opens the capture screen on a just-opened exam (201 of POST /api/exams). */
export function startCapture(opened) {
  exam = opened;
  eye = "right";
  const others = opened.same_day_exams || 0;
  const warning = byId("same-day-warning");
  warning.textContent = others > 0
    ? `This patient already had ${others === 1 ? "an exam" : `${others} exams`} today. `
      + "Check that this is not the same exam twice."
    : "";
  warning.hidden = others === 0;
  showScreen("capture");
  render();
}

/** Reopens an open exam (from the worklist) where it was left. */
export function resumeCapture(session) {
  exam = session;
  const right = exam.eyes.right;
  eye = right.photos_in_use.length && (right.gradable || right.escalate) ? "left" : "right";
  byId("same-day-warning").hidden = true;
  showScreen("capture");
  render();
}

function buildDemoChooser() {
  const kinds = kiosk.camera.demo_kinds || [];
  const box = byId("demo-kinds");
  box.replaceChildren();
  byId("demo-chooser").hidden = kinds.length === 0;
  for (const kind of ["", ...kinds]) {
    const label = kind ? KIND_WORDS[kind] || kind.charAt(0).toUpperCase() + kind.slice(1) : "Camera default";
    box.append(button(label, () => {
      demoKind = kind;
      markDemoKind();
    }, "seg", { "data-kind": kind, "aria-pressed": "false" }));
  }
  markDemoKind();
}

function markDemoKind() {
  for (const b of byId("demo-kinds").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(b.dataset.kind === demoKind));
  }
}

function stepState(which) {
  const info = exam.eyes[which];
  if (info.gradable) return `✓ ${photosInUse(which).filter((p) => p.quality.passed).length} good`;
  if (info.escalate) return "dilate or refer";
  if (info.photos_in_use.length) return "retake";
  return "";
}

function render() {
  if (!exam) return;
  const info = exam.eyes[eye];
  const inUse = photosInUse(eye);
  const good = inUse.filter((p) => p.quality.passed).length;
  setText("capture-patient-id", exam.patient.patient_id);
  setText("capture-birth", dateWords(exam.patient.birth_date));
  setText("capture-sex", sexWords(exam.patient.sex));
  for (const which of ["right", "left"]) {
    byId(`step-${which}`).setAttribute("aria-pressed", String(which === eye));
    setText(`step-${which}-state`, stepState(which));
  }
  setText("capture-title", `Photographs: ${eyeName(eye)}`);
  shoot.textContent = busy ? "Photographing…" : `Photograph ${eyeName(eye)}`;
  const full = inUse.length >= MAX_PER_EYE && good === inUse.length;
  shoot.disabled = busy || full;
  setText("shoot-hint", full ? `Two good photos of the ${eyeName(eye)}: use Retake on one to replace it.`
    : good === 1 ? `One good photo of the ${eyeName(eye)}. You may add a second one, or go on.` : "");

  const escalation = byId("escalation");
  escalation.hidden = !info.escalate;
  escalation.textContent = info.escalate ? info.advice : "";
  setText("eye-advice", !info.escalate && info.advice
    ? `Before the next photo: ${info.advice} (failed photos of this eye so far: ${info.failed_attempts})` : "");

  byId("photos").replaceChildren(...(inUse.length ? inUse.map(photoCard)
    : [el("p", { class: "empty", text: `No photo of the ${eyeName(eye)} yet.` })]));
  byId("eye-warnings").replaceChildren(...inUse.filter((p) => p.eye_warning).map(eyeWarning));

  byId("back-right").hidden = eye !== "left";
  byId("next-left").hidden = eye !== "right";
  finishButton.disabled = busy || !exam.can_finish;
  finishButton.textContent = busy === "finish" ? "Screening…" : "Finish and screen";
  setText("finish-blocker", exam.can_finish ? "" : exam.finish_blocker);
}

function photoCard(photo) {
  const passed = photo.quality.passed;
  const field = FIELD_WORDS[photo.detected_field];
  const verdict = passed
    ? el("p", { class: "verdict good" }, el("span", { class: "mark", text: "✓", attrs: { "aria-hidden": "true" } }),
      ` Good photo${field ? ` (${field})` : ""}`)
    : el("p", { class: "verdict bad" }, el("span", { class: "mark", text: "✗", attrs: { "aria-hidden": "true" } }),
      ` ${photo.quality.message}`);
  const card = el("figure", { class: `photo-card ${passed ? "good" : "bad"}`, attrs: { "data-photo-id": photo.photo_id } },
    el("img", { attrs: { src: `/api/images/${photo.sha256}`, alt: `${EYE_WORDS[photo.eye]} photo ${photo.photo_id}` } }),
    el("figcaption", {}, verdict));
  if (photo.eye_warning) {
    card.classList.add("doubt");
    card.append(el("p", { class: "doubt-note", text: "⚠ Left or right? Confirm or retake (beside)." }));
  } else {
    card.append(button("Retake", () => takePhoto(photo.photo_id), passed ? "secondary retake" : "primary retake"));
  }
  return card;
}

// The left/right doubt of one photo, next to the camera button where the technician looks.
function eyeWarning(photo) {
  return el("div", { class: "eye-warning", attrs: { role: "alert", "data-photo-id": photo.photo_id } },
    el("p", { text: `Photo ${photo.photo_id}: ${photo.eye_warning}` }),
    el("div", { class: "row" },
      button(`Confirm it is the ${eyeName(photo.eye)}`, () => confirmEye(photo), "primary confirm-eye"),
      button("Retake", () => takePhoto(photo.photo_id), "secondary retake")));
}

async function run(kind, work) {
  if (busy) return;
  busy = kind;
  clearMessage();
  render();
  try {
    await work();
  } catch (err) {
    showError(err);
  } finally {
    busy = false;
    render();
  }
}

function takePhoto(replaces) {
  return run("photo", async () => {
    const body = { eye };
    if (replaces) body.replaces = replaces;
    if (demoKind) body.kind = demoKind;
    const answer = await api(`/api/exams/${exam.exam_id}/photos`, { method: "POST", body });
    exam = answer.exam;
    const q = answer.photo.quality;
    const words = [`${EYE_WORDS[answer.photo.eye]}: ${q.passed ? "Good photo." : q.message}`];
    if (answer.eye_warning) words.push(answer.eye_warning);
    if (answer.advice.escalate) words.push(answer.advice.message);
    setText("verdict", words.join(" "));
  });
}

function confirmEye(photo) {
  return run("confirm", async () => {
    exam = await api(`/api/exams/${exam.exam_id}/photos/${photo.photo_id}/confirm-eye`, { method: "POST" });
    setText("verdict", `Photo ${photo.photo_id} confirmed as the ${eyeName(photo.eye)}.`);
  });
}

function switchEye(which) {
  eye = which;
  setText("verdict", "");
  render();
}

shoot.addEventListener("click", () => takePhoto(null));
byId("next-left").addEventListener("click", () => switchEye("left"));
byId("back-right").addEventListener("click", () => switchEye("right"));
byId("step-right").addEventListener("click", () => switchEye("right"));
byId("step-left").addEventListener("click", () => switchEye("left"));

finishButton.addEventListener("click", () => run("finish", async () => {
  const result = await api(`/api/exams/${exam.exam_id}/finish`, { method: "POST" });
  exam = null;
  wipe();
  showResult(result);
}));

byId("cancel-exam").addEventListener("click", async () => {
  if (!exam || busy) return;
  const cancelled = await askCancel(exam.exam_id);
  if (!cancelled) return;
  wipeAll();
  await navigate("new");
  showMessage("The exam was cancelled.", "info");
});

function wipe() {
  exam = null;
  eye = "right";
  demoKind = "";
  closeCancelDialog();
  for (const id of ["capture-patient-id", "capture-birth", "capture-sex", "verdict", "eye-advice", "shoot-hint",
    "finish-blocker", "same-day-warning", "escalation"]) setText(id, "");
  byId("photos").replaceChildren();
  byId("eye-warnings").replaceChildren();
  byId("same-day-warning").hidden = true;
  markDemoKind();
}

onWipe(wipe);

/** Called once the camera is known (main.js). */
export function initCapture() {
  buildDemoChooser();
}
