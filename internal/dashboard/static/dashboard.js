// Gatehouse dashboard: progressive enhancement only. Every page and form
// works without this script; it adds a copy button beside each secret,
// lets the keyboard reach a table that scrolls sideways, and sends the
// form that finishes signing out.
"use strict";

// A .scroll box wider than the screen (a table at 320px) takes the focus,
// so arrow keys scroll it (WCAG 2.1.1; axe scrollable-region-focusable);
// one that fits does not, so it adds no stop to the tab order.
function focusableScrolls() {
  document.querySelectorAll(".scroll").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth) {
      box.tabIndex = 0;
    } else {
      box.removeAttribute("tabindex");
    }
  });
}
document.addEventListener("DOMContentLoaded", focusableScrolls);
window.addEventListener("resize", focusableScrolls);
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

// A form marked data-autosubmit finishes a step the user already chose
// (signing out ends the Gatehouse session too); without the script, its
// button does the same.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.submit();
  });
});
