// gaspay: small enhancements only; every page works without this file.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
// After an htmx swap, move focus to the new content so screen readers and keyboards follow it
// (polling refreshes keep focus where it is).
document.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.requestConfig && event.detail.requestConfig.triggeringEvent &&
      event.detail.requestConfig.triggeringEvent.type !== "submit") { return; }
  var target = event.detail.target;
  var focusable = target.querySelector("[role=alert], [tabindex='-1'], h1, h2") || target;
  if (!focusable.hasAttribute("tabindex")) { focusable.setAttribute("tabindex", "-1"); }
  focusable.focus();
});
