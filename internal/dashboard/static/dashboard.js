// Gatehouse dashboard: progressive enhancement only. Every page and form
// works without this script; it adds a copy button beside each secret
// shown once.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy-for]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-for"));
    if (!target || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
  });
});
