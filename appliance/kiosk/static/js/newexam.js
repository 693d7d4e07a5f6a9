// New exam: patient id (typed, or from a barcode scanner acting as a keyboard), date of birth, sex; or one of
// today's scheduled patients from the clinic's worklist (GET /api/worklist/orders), whose order the exam is
// then opened for (its accession number goes with POST /api/exams). Typing always stays possible.

import { api } from "./api.js";
import { byId, dateWords, el, setText } from "./dom.js";
import { startCapture } from "./capture.js";
import { clearMessage, onEnter, onWipe, showError, showMessage } from "./ui.js";

const form = byId("new-exam-form");
const patientId = byId("patient-id");
const birthDate = byId("birth-date");
const start = byId("start-exam");
const orders = byId("orders");
const orderList = byId("order-list");
const unavailable = byId("orders-unavailable");

/** The order the technician tapped (null: the patient is typed). */
let chosen = null;
/** Bumped by each load and each wipe: an answer that comes back late is dropped. */
let ordersAsked = 0;

function today() {
  const now = new Date();
  const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

/** "DOE, JANE" from the DICOM person name "DOE^JANE" (family^given^middle^prefix^suffix). */
export function personName(dicomName) {
  const [family = "", given = "", middle = ""] = String(dicomName || "").split("=")[0].split("^");
  const first = [given, middle].filter(Boolean).join(" ");
  const name = [family, first].filter(Boolean).join(", ");
  return name || "Name not given";
}

function startTime(scheduled) {
  const time = String(scheduled || "").split(" ")[1];
  return time ? `at ${time}` : "";
}

function markChosen() {
  for (const item of orderList.querySelectorAll("button.order")) {
    item.setAttribute("aria-pressed", String(chosen !== null && item.dataset.accession === chosen.accession_number));
  }
  byId("chosen-order").hidden = chosen === null;
  setText("chosen-order-text", chosen === null ? ""
    : `From the worklist: ${personName(chosen.patient_name)}, accession ${chosen.accession_number}`);
}

function choose(order) {
  chosen = order;
  patientId.value = order.patient_id;
  birthDate.value = order.birth_date || "";
  const sex = order.sex && order.sex !== "unknown" ? order.sex : "unknown";
  const radio = byId(`sex-${sex}`);
  if (radio) radio.checked = true;
  markChosen();
  clearMessage();
  start.focus();
}

function unchoose() {
  chosen = null;
  markChosen();
}

function orderButton(order) {
  const facts = [`Id ${order.patient_id}`, `born ${dateWords(order.birth_date)}`,
    `accession ${order.accession_number}`, startTime(order.scheduled_start)].filter(Boolean).join(" · ");
  return el("li", {}, el("button", {
    class: "order",
    attrs: { type: "button", "aria-pressed": "false", "data-accession": order.accession_number },
    on: { click: () => choose(order) },
  }, el("span", { class: "order-name", text: personName(order.patient_name) }),
  el("span", { class: "order-facts", text: facts })));
}

function hideOrders() {
  orders.hidden = true;
  unavailable.hidden = true;
  unavailable.textContent = "";
  orderList.replaceChildren();
}

async function loadOrders() {
  const asked = ++ordersAsked;
  let answer = null;
  try {
    answer = await api("/api/worklist/orders");
  } catch {
    answer = null; // the kiosk works without the worklist: the technician types the id
  }
  if (asked !== ordersAsked) return;
  hideOrders();
  if (!answer) return;
  if (answer.available) {
    orderList.replaceChildren(...answer.orders.map(orderButton));
    byId("orders-empty").hidden = answer.orders.length > 0;
    orders.hidden = false;
    markChosen();
  } else if (answer.configured) {
    // One quiet line: a worklist is configured but cannot be asked now. Nothing when none is configured.
    unavailable.textContent = answer.reason || "The clinic's worklist cannot be asked now: type the patient's id.";
    unavailable.hidden = false;
  }
}

function wipe() {
  form.reset();
  start.disabled = false;
  ordersAsked += 1;
  unchoose();
  hideOrders();
}

// Barcode scanners. A keyboard-wedge scanner types the id much faster than a person and presses Enter; a serial
// scanner's codes come from GET /api/scanner/next (a long poll that is no activity for the idle timeout). Either
// way a code that does not fit the clinic's pattern ([scanner] pattern) is refused with a sentence.
const WEDGE_MAX_GAP_MS = 50;
const WEDGE_MIN_LENGTH = 3;
const REFUSED_SCAN = "The scanned code is not a patient id of this clinic: check the barcode, or type the id.";
let scanPattern = null;
let scannerPolling = false;
let keyTimes = [];

function fitsPattern(code) {
  return scanPattern === null || scanPattern.test(code);
}

function takeScan(code) {
  if (!fitsPattern(code)) {
    showMessage(REFUSED_SCAN);
    patientId.select();
    return;
  }
  clearMessage();
  if (chosen !== null && code !== chosen.patient_id) unchoose();
  patientId.value = code;
  birthDate.focus();
}

async function pollScanner() {
  if (scannerPolling) return;
  scannerPolling = true;
  for (;;) {
    if (byId("screen-new").hidden) {
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
      continue;
    }
    try {
      const answer = await api("/api/scanner/next?wait=15", { headers: { "X-Idle-Poll": "1" } });
      if (!answer.configured) break;
      if (answer.scan && !byId("screen-new").hidden) {
        if (answer.scan.patient_id) takeScan(answer.scan.patient_id);
        else showMessage(answer.scan.refused || REFUSED_SCAN);
      }
    } catch (err) {
      if (err.status === 401) break; // signed out: the page is leaving
      await new Promise((resolve) => { setTimeout(resolve, 5000); });
    }
  }
  scannerPolling = false;
}

async function startScanner() {
  try {
    const info = await api("/api/scanner", { headers: { "X-Idle-Poll": "1" } });
    try {
      scanPattern = new RegExp(`^(?:${info.pattern})$`);
    } catch {
      scanPattern = null; // a pattern JavaScript cannot read: the server still checks serial scans
    }
    if (info.configured) pollScanner();
  } catch {
    // No scanner answer: typing (and a keyboard-wedge scanner) still works.
  }
}

// A scanner types the id and presses Enter: go on to the date of birth rather than start the exam.
patientId.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    const fast = keyTimes.length >= WEDGE_MIN_LENGTH
      && keyTimes.every((t, i) => i === 0 || t - keyTimes[i - 1] <= WEDGE_MAX_GAP_MS);
    keyTimes = [];
    if (fast) {
      takeScan(patientId.value.trim());
      return;
    }
    birthDate.focus();
  } else if (event.key.length === 1) {
    if (patientId.value === "" || patientId.selectionStart === 0) keyTimes = [];
    keyTimes.push(event.timeStamp);
  }
});

// Typing another id than the chosen order's makes it a typed patient again.
patientId.addEventListener("input", () => {
  if (chosen !== null && patientId.value.trim() !== chosen.patient_id) unchoose();
});

byId("clear-order").addEventListener("click", () => {
  form.reset();
  unchoose();
  patientId.focus();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const sex = form.querySelector("input[name=sex]:checked");
  const body = { patient_id: patientId.value, birth_date: birthDate.value, sex: sex ? sex.value : "unknown" };
  if (chosen !== null) body.accession_number = chosen.accession_number;
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
onEnter("new", async () => {
  birthDate.max = today();
  patientId.focus();
  if (!scannerPolling) startScanner();
  await loadOrders();
});
