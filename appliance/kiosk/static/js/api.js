// The JSON API, as the pages use it: same-origin credentials, the CSRF token on every state-changing
// request, and errors as the plain sentence the appliance sent (never a stack trace).

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const NO_ANSWER = "The appliance did not answer. Check that it is switched on, then try again.";

let csrfToken = "";
let signedOut = () => {};

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code || "";
  }
}

export function setCsrfToken(token) {
  csrfToken = token || "";
}

/** `handler(message)` runs when the server says the sign-in has ended (401). */
export function onSignedOut(handler) {
  signedOut = handler;
}

function plainSentence(status) {
  if (status === 403) return "This is not allowed for your account, or the page is out of date: reload it.";
  if (status === 404) return "This was not found on the appliance.";
  if (status === 413) return "The file is too large for the appliance.";
  if (status >= 500) return "Something went wrong on the appliance. Nothing was lost; try again or call support.";
  return "The appliance refused this request. Try again.";
}

async function send(path, { method = "GET", body, headers = {} } = {}) {
  // referrerPolicy: the page's "no-referrer" would send "Origin: null", which the server refuses.
  const init = { method, credentials: "same-origin", cache: "no-store", referrerPolicy: "same-origin",
    headers: { ...headers } };
  if (UNSAFE.has(method)) init.headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(NO_ANSWER, 0, "no_answer");
  }
}

async function failure(response) {
  const data = await response.json().catch(() => null);
  const message = (data && typeof data.message === "string" && data.message) || plainSentence(response.status);
  const code = data && typeof data.error === "string" ? data.error : "";
  if (response.status === 401) signedOut(message, code);
  return new ApiError(message, response.status, code);
}

/** JSON in, JSON out. Raises ApiError with the appliance's sentence. */
export async function api(path, options = {}) {
  const response = await send(path, { ...options, headers: { Accept: "application/json", ...options.headers } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** A binary answer (a heatmap PNG) as a Blob. Raises ApiError. */
export async function apiBlob(path) {
  const response = await send(path);
  if (!response.ok) throw await failure(response);
  return response.blob();
}
