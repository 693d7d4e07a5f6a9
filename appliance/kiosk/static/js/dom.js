// Small DOM helpers: elements are built with textContent only (no HTML from data, ever).

export const byId = (id) => document.getElementById(id);

/** el("p", {class: "x", text: "…", attrs: {…}, on: {click: fn}}, ...children) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined && props.text !== null) node.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [type, handler] of Object.entries(props.on || {})) node.addEventListener(type, handler);
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function button(label, onClick, className = "secondary", attrs = {}) {
  return el("button", { class: className, text: label, attrs: { type: "button", ...attrs }, on: { click: onClick } });
}

export function setText(id, value) {
  byId(id).textContent = value === null || value === undefined ? "" : String(value);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

const SEX_WORDS = { female: "Female", male: "Male", other: "Other", unknown: "Not given" };
export const sexWords = (sex) => SEX_WORDS[sex] || "Not given";

/** "12 Mar 1961" from "1961-03-12"; "Not given" when absent. */
export function dateWords(isoDate) {
  if (!isoDate) return "Not given";
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-GB",
    { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

export function timeWords(isoDateTime) {
  return isoDateTime ? new Date(isoDateTime).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" }) : "";
}

export function dateTimeWords(isoDateTime) {
  if (!isoDateTime) return "";
  const when = new Date(isoDateTime);
  const today = new Date().toDateString() === when.toDateString();
  const day = today ? "today" : when.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
  return `${day} ${timeWords(isoDateTime)}`;
}

export const OUTCOME_WORDS = { REFER: "REFER", NO_REFER: "NO REFER", UNGRADABLE: "UNGRADABLE" };
export const STATE_WORDS = { open: "Open", finished: "Finished", cancelled: "Cancelled" };
export const EYE_WORDS = { right: "Right eye", left: "Left eye" };
export const FIELD_WORDS = { macula: "macula-centred", disc: "disc-centred" };
/** An exam's delivery to the clinic (the worklist's `sync`): an icon and words, never colour alone. */
export const SYNC_WORDS = {
  sent: { icon: "✓", text: "Sent" },
  pending: { icon: "↑", text: "Waiting to send" },
  retrying: { icon: "↻", text: "Waiting to send: the appliance tries again by itself" },
  parked: { icon: "✗", text: "Not sent: the clinic's system refused it — ask an administrator" },
};
