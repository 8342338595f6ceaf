// gaspay: small enhancements only; every page works without this file.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
// "Imprimir" needs this file: it stays hidden without JavaScript (the browser's own menu prints).
function showPrintButtons(root) {
  root.querySelectorAll("[data-print][hidden]").forEach(function (b) { b.hidden = false; });
}
showPrintButtons(document);
document.addEventListener("htmx:load", function (event) { showPrintButtons(event.detail.elt); });
// After an htmx swap, move focus to the new content so screen readers and keyboards follow it
// (polling refreshes, which no click or submit triggers, keep focus where it is).
document.addEventListener("htmx:afterSwap", function (event) {
  var config = event.detail.requestConfig;
  var trigger = config && config.triggeringEvent;
  if (!trigger || (trigger.type !== "submit" && trigger.type !== "click")) { return; }
  var target = event.detail.target;
  // An outerHTML swap replaces the target: follow it by its id.
  if (!target.isConnected && target.id) { target = document.getElementById(target.id); }
  if (!target) { return; }
  var focusable = target.querySelector("[role=alert], [tabindex='-1'], h1, h2") || target;
  if (!focusable.hasAttribute("tabindex")) { focusable.setAttribute("tabindex", "-1"); }
  focusable.focus();
});
