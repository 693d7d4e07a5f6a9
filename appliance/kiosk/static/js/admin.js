// The admin screen over /api/admin/...: results the clinic's systems refused (parked) with "Send again",
// users (add, disable, enable, unlock, new PIN), camera kind and quality profile (applied at the next
// start), the model's locked threshold shown read-only.
import { api, setCsrfToken } from "./api.js";
import { dateTimeWords } from "./dom.js";

const $ = (id) => document.getElementById(id);

function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

async function change(userId, what, body) {
  try {
    await api(`/api/admin/users/${encodeURIComponent(userId)}/${what}`, { method: "POST", body: body || {} });
    say(`User ${userId}: ${what} done.`);
    await loadUsers();
  } catch (err) {
    say(err.message, "error");
  }
}

async function loadUsers() {
  const { users } = await api("/api/admin/users");
  const body = $("users-body");
  body.replaceChildren();
  for (const user of users) {
    const row = document.createElement("tr");
    cell(row, user.user_id);
    cell(row, user.display_name);
    cell(row, user.role);
    cell(row, user.disabled ? "disabled" : user.locked_until ? "locked" : "active");
    // The buttons sit in a box of their own: a flex table cell would lose the row's borders.
    const actions = document.createElement("div");
    actions.className = "actions";
    cell(row, "").appendChild(actions);
    actions.appendChild(user.disabled ? button("Enable", () => change(user.user_id, "enable"))
      : button("Disable", () => change(user.user_id, "disable")));
    if (user.locked_until) actions.appendChild(button("Unlock", () => change(user.user_id, "unlock")));
    actions.appendChild(button("New PIN", () => {
      const pin = window.prompt(`New PIN for ${user.user_id} (4 to 12 digits)`);
      if (pin) change(user.user_id, "pin", { pin });
    }));
    body.appendChild(row);
  }
}

const DESTINATIONS = { dicom: "PACS", fhir: "EHR" };
const destination = (kind) => DESTINATIONS[kind] || kind;

function backlogWords(line) {
  if (!line.target) return `${destination(line.kind)}: not configured (${line.pending} waiting)`;
  const waiting = line.pending ? `${line.pending} waiting` + (line.retrying ? ` (${line.retrying} retrying)` : "")
    : "nothing waiting";
  const last = line.last_success ? dateTimeWords(line.last_success) : "never";
  return `${destination(line.kind)}: ${waiting}, ${line.parked} refused, ${line.sent} sent; last success ${last}`;
}

async function requeue(item) {
  try {
    await api(`/api/admin/sync/${encodeURIComponent(item.item)}/requeue`, { method: "POST", body: {} });
    say(`Item ${item.item} (${destination(item.kind)}) will be sent again now.`);
  } catch (err) {
    say(err.message, "error");
  }
  await loadSync().catch((err) => say(err.message, "error"));
}

async function loadSync() {
  const sync = await api("/api/admin/sync");
  $("sync-summary").textContent = sync.configured ? sync.destinations.map(backlogWords).join(". ") + "."
    : "No PACS or EHR is configured: finished exams wait on the appliance.";
  const body = $("parked-body");
  body.replaceChildren();
  for (const item of sync.parked) {
    const row = document.createElement("tr");
    row.dataset.item = String(item.item);
    cell(row, String(item.item));
    cell(row, destination(item.kind));
    cell(row, `${item.exam_id.slice(0, 12)}…`).className = "exam-id";
    cell(row, item.parked_at ? dateTimeWords(item.parked_at) : "");
    cell(row, `✗ ${item.reason || "No message was given."}`).className = "reason";
    cell(row, "").appendChild(button("Send again", (event) => {
      event.currentTarget.disabled = true; // one tap, one re-queue
      requeue(item);
    }));
    body.appendChild(row);
  }
  $("parked").hidden = sync.parked.length === 0;
  $("parked-none").hidden = sync.parked.length > 0;
}

function fill(select, choices, current) {
  select.replaceChildren(...choices.map((choice) => {
    const option = document.createElement("option");
    option.value = choice;
    option.textContent = choice;
    option.selected = choice === current;
    return option;
  }));
}

function showSettings(settings) {
  fill($("camera-kind"), settings.camera.choices, settings.camera.saved || settings.camera.kind);
  fill($("quality-profile"), settings.quality.choices, settings.quality.saved || settings.quality.profile);
  $("settings-now").textContent = `In use now: camera ${settings.camera.kind}, quality profile ${settings.quality.profile}.`;
  const facts = $("model-facts");
  facts.replaceChildren();
  const model = settings.model;
  for (const [name, value] of [["Name", model.name], ["Version", model.version], ["sha256", model.sha256],
    ["Runner", model.runner], ["Locked threshold", String(model.locked_threshold)]]) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  }
}

async function start() {
  const session = await api("/api/session");
  setCsrfToken(session.csrf_token);
  await loadSync().catch((err) => say(err.message, "error")); // the users still load
  await loadUsers();
  showSettings(await api("/api/admin/settings"));
  $("add-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api("/api/admin/users", { method: "POST", body: Object.fromEntries(form.entries()) });
      event.target.reset();
      say("User added.");
      await loadUsers();
    } catch (err) {
      say(err.message, "error");
    }
  });
  $("settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      showSettings(await api("/api/admin/settings", { method: "POST", body: {
        camera_kind: $("camera-kind").value, quality_profile: $("quality-profile").value } }));
      say("Settings saved: they apply at the next start of the appliance.");
    } catch (err) {
      say(err.message, "error");
    }
  });
}

start().catch((err) => say(err.message, "error"));
