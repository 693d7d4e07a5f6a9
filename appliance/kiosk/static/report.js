// The print view's one action, here and not inline: the kiosk's CSP allows no inline script.
"use strict";

document.getElementById("print-button").addEventListener("click", () => window.print());
