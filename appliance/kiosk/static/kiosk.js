// The technician's page: one exam at a time, via the JSON API.
"use strict";

const form = document.getElementById("exam-form");
const statusBox = document.getElementById("status");
const resultBox = document.getElementById("result");
const button = document.getElementById("screen-button");

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function showResult(exam) {
  resultBox.className = exam.outcome;
  document.getElementById("outcome").textContent = exam.outcome.replace("_", " ");
  document.getElementById("outcome-message").textContent = exam.message;
  const eyes = document.getElementById("eyes");
  eyes.replaceChildren(...Object.entries(exam.eye_scores).map(([eye, score]) => {
    const advice = exam.retake[eye];
    const next = advice ? ` — next: ${advice.message}` : "";
    return text("li", `${eye} eye: ${score === null ? "no gradable image" : "score " + score.toFixed(3)}${next}`);
  }));
  const images = document.getElementById("images");
  images.replaceChildren(...exam.images.map((image) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = `/api/images/${image.sha256}`;
    img.alt = `${image.eye} eye photo`;
    const q = image.quality;
    const field = image.detected_field === "unknown" ? "" : ` (${image.detected_field}-centred)`;
    const caption = q.passed ? `${image.eye}${field}: quality passed` : `${image.eye}: retake — ${q.message}`;
    figure.append(img, text("figcaption", caption, q.passed ? "passed" : "failed"));
    if (q.passed) figure.append(heatmapButton(image, img));
    return figure;
  }));
  // Which threshold decided this result: the model's locked one or a site's adopted one (never silent).
  const point = exam.operating_point;
  const pointBox = document.getElementById("operating-point");
  pointBox.textContent = point ? `Operating point: ${point.description}` : "";
  pointBox.className = point && point.source === "site" ? "operating-point site" : "operating-point";
  document.getElementById("provenance").textContent =
    `Exam ${exam.exam_id} · model ${exam.model.name} ${exam.model.version} (${exam.model.runner}) · ` +
    `threshold ${exam.thresholds.referable.toFixed(3)} · ${exam.notice}`;
  resultBox.hidden = false;
}

// The class-activation heatmap of a scored photo, on request: a review aid, not a validated finding.
function heatmapButton(image, img) {
  const button = text("button", "Show where the model looked", "heatmap-button");
  button.type = "button";
  let shown = false;
  button.addEventListener("click", async () => {
    if (shown) {
      img.src = `/api/images/${image.sha256}`;
      button.textContent = "Show where the model looked";
      shown = false;
      return;
    }
    button.disabled = true;
    try {
      const response = await fetch(`/api/images/${image.sha256}/heatmap`);
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        button.textContent = body.message || "No heatmap for this photo.";
        return;
      }
      img.src = URL.createObjectURL(await response.blob());
      img.alt = `${image.eye} eye photo with the model's heatmap (red: regions that raised the score)`;
      button.textContent = "Heatmap shown (red raised the score; not validated). Show the photo";
      shown = true;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  resultBox.hidden = true;
  statusBox.className = "";
  statusBox.textContent = "Photographing and screening…";
  try {
    const response = await fetch("/api/exams", { method: "POST", body: new FormData(form) });
    const body = await response.json();
    if (!response.ok) {
      statusBox.className = "error";
      statusBox.textContent = body.message || "The exam could not be screened.";
      return;
    }
    statusBox.textContent = "";
    showResult(body);
  } catch (err) {
    statusBox.className = "error";
    statusBox.textContent = "The appliance did not answer. Try again.";
  } finally {
    button.disabled = false;
  }
});
