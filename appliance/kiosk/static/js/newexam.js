// New exam: patient id (typed, or from a barcode scanner acting as a keyboard), date of birth, sex.

import { api } from "./api.js";
import { byId } from "./dom.js";
import { startCapture } from "./capture.js";
import { clearMessage, onEnter, onWipe, showError } from "./ui.js";

const form = byId("new-exam-form");
const patientId = byId("patient-id");
const birthDate = byId("birth-date");
const start = byId("start-exam");

function today() {
  const now = new Date();
  const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

function wipe() {
  form.reset();
  start.disabled = false;
}

// A scanner types the id and presses Enter: go on to the date of birth rather than start the exam.
patientId.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    birthDate.focus();
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const sex = form.querySelector("input[name=sex]:checked");
  const body = { patient_id: patientId.value, birth_date: birthDate.value, sex: sex ? sex.value : "unknown" };
  start.disabled = true;
  clearMessage();
  try {
    const exam = await api("/api/exams", { method: "POST", body });
    wipe();
    startCapture(exam);
  } catch (err) {
    showError(err);
    patientId.focus();
  } finally {
    start.disabled = false;
  }
});

onWipe(wipe);
onEnter("new", () => {
  birthDate.max = today();
  patientId.focus();
});
