// gaspay, payer pages: small enhancements only; every page works without this file.
"use strict";
// "Imprimir" needs this file: it stays hidden without JavaScript (the browser's menu prints).
function showPrintButtons(root) {
  root.querySelectorAll("[data-print][hidden]").forEach(function (b) { b.hidden = false; });
}
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
// After the payer's own action (a lookup, a form with errors, a filter) the answering page
// marks its new content with data-focus: the focus goes there, as a screen reader expects.
function focusOn(el) {
  if (!el.hasAttribute("tabindex")) { el.setAttribute("tabindex", "-1"); }
  el.focus();
}
// Ticking a bill recalculates the total at once, through the form's own "Recalcular" button.
document.addEventListener("change", function (event) {
  var form = event.target.matches("[data-recalculate]") && event.target.form;
  var again = form && form.querySelector("[formaction]");
  if (again) { form.requestSubmit(again); }
});
// A sent form disables its buttons, so a second tap on a slow network sends nothing twice
// (the server refuses a second payment anyway); coming back to the page enables them again.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (event.defaultPrevented || form.method === "get") { return; }
  setTimeout(function () {
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; b.dataset.sent = ""; });
  }, 0);
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[data-sent]").forEach(function (b) {
    b.disabled = false;
    delete b.dataset.sent;
  });
});
// A pending payment's result (data-poll) asks again every 3 s and replaces itself with the
// answer, until the answer is final; the focus stays where the payer left it.
function poll(section) {
  var url = section.getAttribute("data-poll");
  if (!url) { return; }
  setTimeout(function () {
    fetch(url, {headers: {"HX-Request": "true"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var fresh = t.content.firstElementChild;
        if (!fresh || fresh.id !== section.id) { return poll(section); }
        var hadFocus = section.contains(document.activeElement);
        section.replaceWith(fresh);
        showPrintButtons(fresh);
        if (hadFocus) { focusOn(fresh); }
        poll(fresh);
      })
      .catch(function () { poll(section); });  // offline for a moment: ask again later
  }, 3000);
}
showPrintButtons(document);
var answer = document.querySelector("[data-focus]");
if (answer) { focusOn(answer); }
document.querySelectorAll("[data-poll]").forEach(poll);
