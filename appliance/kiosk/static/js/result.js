// Result: the outcome in plain words for the person, per eye, with the photos used, the model and its
// operating point, the not-validated notice, details on request, heatmaps, the report.

import { apiBlob } from "./api.js";
import { EYE_WORDS, OUTCOME_WORDS, button, byId, dateTimeWords, dateWords, el, setText } from "./dom.js";
import { keepBlobUrl, navigate, onWipe, showError, showScreen, wipeAll } from "./ui.js";

const OUTCOME_SYMBOLS = { REFER: "!", NO_REFER: "✓", UNGRADABLE: "?" };
let examId = "";

const score = (value) => (value === null || value === undefined ? "—" : Number(value).toFixed(3));

/** Shows a finished exam's result (the answer of finish, or `result` of GET /api/exams/<id>). */
export function showResult(result) {
  examId = result.exam_id;
  setText("result-patient-id", result.patient.patient_id);
  setText("result-birth", dateWords(result.patient.birth_date));
  setText("result-time", `Exam ${dateTimeWords(result.opened_at)} · by ${result.operator}`);
  byId("outcome-box").className = `outcome ${result.outcome}`;
  setText("outcome-symbol", OUTCOME_SYMBOLS[result.outcome] || "");
  setText("outcome-word", OUTCOME_WORDS[result.outcome] || result.outcome);
  setText("outcome-message", result.message);
  byId("eyes-result").replaceChildren(...["right", "left"].map((eye) => eyeCard(result, eye)));
  const model = result.model;
  setText("result-model", `Model: ${model.name} ${model.version} (${model.runner})`);
  setText("result-operating-point", `Operating point: ${result.operating_point.description}`);
  setText("result-notice", result.notice);
  byId("result-details").open = false;
  byId("result-details-body").replaceChildren(...details(result));
  byId("download-pdf").href = `/api/exams/${result.exam_id}/report.pdf`;
  showScreen("result");
}

function eyeCard(result, eye) {
  const finding = result.eyes[eye];
  const used = new Set(finding.photos_used);
  const images = result.images.filter((image) => image.eye === eye);
  const advice = result.retake[eye];
  return el("section", { class: `eye-card ${finding.finding}`, attrs: { "aria-label": EYE_WORDS[eye] } },
    el("h2", { text: EYE_WORDS[eye] }),
    el("p", { class: "finding", text: finding.words }),
    advice ? el("p", { class: advice.escalate ? "advice escalate" : "advice", text: advice.message }) : null,
    el("div", { class: "photos" }, ...images.map((image) => resultPhoto(image, used.has(image.photo_id)))),
    images.length ? null : el("p", { class: "empty", text: "No photo of this eye." }));
}

function resultPhoto(image, used) {
  const src = `/api/images/${image.sha256}`;
  const img = el("img", { attrs: { src, alt: `${EYE_WORDS[image.eye]} photo ${image.photo_id}` } });
  const caption = el("figcaption", {
    class: used ? "used" : "not-used",
    text: used ? `Photo ${image.photo_id}: used for the result`
      : `Photo ${image.photo_id}: not used. ${image.quality.message}`,
  });
  const figure = el("figure", { class: "photo-card result-photo", attrs: { "data-photo-id": image.photo_id } },
    img, caption);
  if (used) figure.append(heatmapButton(image, img));
  return figure;
}

// The class-activation heatmap of a scored photo, on request: a review aid, not a validated finding.
function heatmapButton(image, img) {
  const note = el("p", { class: "heatmap-note", attrs: { "aria-live": "polite" } });
  let heatmapUrl = "";
  const toggle = button("Show where the model looked", async () => {
    if (img.dataset.view === "heatmap") {
      img.src = `/api/images/${image.sha256}`;
      img.dataset.view = "photo";
      toggle.textContent = "Show where the model looked";
      note.textContent = "";
      return;
    }
    toggle.disabled = true;
    try {
      heatmapUrl = heatmapUrl || keepBlobUrl(await apiBlob(`/api/images/${image.sha256}/heatmap`));
      img.src = heatmapUrl;
      img.dataset.view = "heatmap";
      img.alt = `${EYE_WORDS[image.eye]} photo ${image.photo_id} with the model's heatmap`;
      toggle.textContent = "Show the photo";
      note.textContent = "Red areas raised the score. A review aid only: not validated.";
    } catch (err) {
      showError(err);
    } finally {
      toggle.disabled = false;
    }
  }, "secondary heatmap-button");
  return el("div", { class: "heatmap" }, toggle, note);
}

function details(result) {
  const rows = result.images.map((image) => el("tr", {},
    el("td", { text: EYE_WORDS[image.eye] }),
    el("td", { text: image.photo_id }),
    el("td", { text: image.quality.passed ? "passed" : `failed: ${image.quality.reason_codes.join(", ")}` }),
    el("td", { text: score(image.score) })));
  const point = result.operating_point;
  const facts = [
    ["Right eye score", score(result.eye_scores.right)],
    ["Left eye score", score(result.eye_scores.left)],
    ["Refer at a score of at least", score(result.thresholds.referable)],
    ["Operating point", `${point.source === "site" ? "site" : "locked"} threshold ${score(point.threshold)} `
      + `(model's locked threshold ${score(point.locked_threshold)})`],
    ["Quality gate", result.gate ? `profile ${result.gate.profile}, dilate/refer after ${result.gate.max_attempts} `
      + "failed photos" : "—"],
    ["Model file sha256", result.model.sha256],
    ["Exam id", result.exam_id],
  ];
  return [
    el("table", { class: "scores" },
      el("caption", { text: "Each photo: quality and the model's score (probability of referable DR)" }),
      el("thead", {}, el("tr", {}, ...["Eye", "Photo", "Quality", "Score"].map((h) => el("th", { text: h, attrs: { scope: "col" } })))),
      el("tbody", {}, ...rows)),
    el("dl", { class: "facts" }, ...facts.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })])),
  ];
}

byId("print-report").addEventListener("click", () => {
  if (examId) window.open(`/exams/${examId}/report`, "_blank", "noopener");
});

byId("result-new-exam").addEventListener("click", () => {
  wipeAll();
  navigate("new");
});

onWipe(() => {
  examId = "";
  for (const id of ["result-patient-id", "result-birth", "result-time", "outcome-symbol", "outcome-word",
    "outcome-message", "result-model", "result-operating-point", "result-notice"]) setText(id, "");
  byId("outcome-box").className = "outcome";
  byId("eyes-result").replaceChildren();
  byId("result-details-body").replaceChildren();
  byId("result-details").open = false;
  byId("download-pdf").href = "#";
});
