// Worklist: today's exams (each with where its result is on the way to the clinic), the exams still open
// (any day), a search by patient id (sent in the body, never the URL); a row reopens its exam: the result,
// the cancelled exam's facts, or the capture.

import { api } from "./api.js";
import { askCancel } from "./cancel.js";
import { resumeCapture } from "./capture.js";
import { EYE_WORDS, OUTCOME_WORDS, STATE_WORDS, SYNC_WORDS, button, byId, dateTimeWords, dateWords, el,
  setText, timeWords } from "./dom.js";
import { showResult } from "./result.js";
import { navigate, onEnter, onWipe, showError, showMessage, showScreen, wipeAll } from "./ui.js";

const searchInput = byId("search-patient-id");
let searched = "";

async function openExam(examId) {
  try {
    const exam = await api(`/api/exams/${examId}`);
    wipeAll();
    if (exam.state === "finished") showResult(exam.result);
    else if (exam.state === "open") resumeCapture(exam);
    else showInfo(exam);
  } catch (err) {
    showError(err);
  }
}

async function cancelExam(examId) {
  const cancelled = await askCancel(examId);
  if (cancelled) {
    await load();
    showMessage("The exam was cancelled.", "info");
  }
}

function actions(entry) {
  if (entry.state === "open") {
    return [button("Resume", () => openExam(entry.exam_id), "primary resume"),
      button("Cancel", () => cancelExam(entry.exam_id), "danger-outline cancel")];
  }
  return [button("View", () => openExam(entry.exam_id), "secondary view")];
}

function row(entry, cells) {
  const tr = el("tr", { class: `state-${entry.state}`, attrs: { "data-exam-id": entry.exam_id } },
    ...cells.map((cell) => (cell instanceof Node ? cell : el("td", { text: cell }))),
    el("td", { class: "row-actions" }, ...actions(entry)));
  // The whole row is a target too (finished and cancelled exams open read-only).
  tr.addEventListener("click", (event) => {
    if (!event.target.closest("button") && entry.state !== "open") openExam(entry.exam_id);
  });
  return tr;
}

/** Where the exam's result is on its way to the PACS and the EHR: an icon and words (never colour alone). */
function syncCell(state) {
  const words = SYNC_WORDS[state];
  if (!words) return el("td", { class: "sync", text: "—" });
  return el("td", { class: `sync sync-${state}` },
    el("span", { class: "sync-icon", text: words.icon, attrs: { "aria-hidden": "true" } }), " ",
    el("span", { class: "sync-text", text: words.text }));
}

function renderMain(entries, emptyText) {
  byId("worklist-table").tBodies[0].replaceChildren(...entries.map((e) => row(e, [
    searched ? dateTimeWords(e.opened_at) : timeWords(e.opened_at), e.patient.patient_id,
    STATE_WORDS[e.state] || e.state, e.outcome ? OUTCOME_WORDS[e.outcome] : "—", syncCell(e.sync)])));
  const empty = byId("worklist-empty");
  empty.textContent = entries.length ? "" : emptyText;
  empty.hidden = entries.length > 0;
}

function renderOpen(entries) {
  byId("open-table").tBodies[0].replaceChildren(...entries.map((e) => row(e, [
    dateTimeWords(e.opened_at), e.patient.patient_id, String(e.photos)])));
  byId("open-list").hidden = entries.length === 0;
}

async function load() {
  try {
    const [open, listed] = await Promise.all([
      api("/api/worklist?scope=open"),
      searched ? api("/api/worklist/search", { method: "POST", body: { patient_id: searched } })
        : api("/api/worklist?scope=today"),
    ]);
    renderOpen(open.exams);
    setText("list-title", searched ? `Exams of patient ${searched}` : "Today's exams");
    renderMain(listed.exams, searched ? "No exam of this patient on the appliance." : "No exam today yet.");
    byId("show-today").hidden = !searched;
  } catch (err) {
    showError(err);
  }
}

byId("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const wanted = searchInput.value.trim();
  if (!wanted) {
    showMessage("Enter a patient id to search.", "error");
    return;
  }
  searched = wanted;
  await load();
});

byId("show-today").addEventListener("click", async () => {
  searched = "";
  searchInput.value = "";
  await load();
});

function showInfo(exam) {
  setText("info-title", exam.state === "cancelled" ? "Cancelled exam" : "Exam");
  setText("info-patient-id", exam.patient.patient_id);
  setText("info-birth", dateWords(exam.patient.birth_date));
  const facts = [["Opened", `${dateTimeWords(exam.opened_at)} by ${exam.operator}`],
    ["Cancelled", exam.closed_at ? `${dateTimeWords(exam.closed_at)} by ${exam.closed_by || "—"}` : "—"],
    ["Reason", exam.close_reason || "—"], ["Photos taken", String(exam.photos.length)]];
  byId("info-facts").replaceChildren(...facts.flatMap(([t, v]) => [el("dt", { text: t }), el("dd", { text: v })]));
  byId("info-photos").replaceChildren(...exam.photos.filter((p) => !p.replaced).map((p) => el("figure",
    { class: "photo-card" }, el("img", { attrs: { src: `/api/images/${p.sha256}`, alt: `${EYE_WORDS[p.eye]} photo ${p.photo_id}` } }),
    el("figcaption", { text: `${EYE_WORDS[p.eye]}: ${p.quality.passed ? "good photo" : p.quality.message}` }))));
  showScreen("exam-info");
}

byId("info-back").addEventListener("click", () => {
  wipeAll();
  navigate("worklist");
});
byId("info-new-exam").addEventListener("click", () => {
  wipeAll();
  navigate("new");
});

onEnter("worklist", load);
onWipe(() => {
  searched = "";
  searchInput.value = "";
  byId("worklist-table").tBodies[0].replaceChildren();
  byId("open-table").tBodies[0].replaceChildren();
  setText("list-title", "Today's exams");
  byId("show-today").hidden = true;
  for (const id of ["info-patient-id", "info-birth"]) setText(id, "");
  byId("info-facts").replaceChildren();
  byId("info-photos").replaceChildren();
});
