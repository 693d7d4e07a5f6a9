// The print view's one action, here and not inline: the kiosk's CSP allows no inline script.
"use strict";

document.getElementById("print-button").addEventListener("click", () => window.print());

// The kiosk opens the print view in its own tab: Close goes back to the kiosk (or home when opened directly).
document.getElementById("close-button").addEventListener("click", () => {
  window.close();
  if (!window.closed) window.location.assign("/");
});
