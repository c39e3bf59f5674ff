// The console's few lines of script: a confirmation before irreversible actions.
// Everything works without it (forms post and pages reload).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // One click, one request: a second click while the page loads does nothing.
  var buttons = form.querySelectorAll("button[type=submit]");
  setTimeout(function () {
    buttons.forEach(function (b) { b.disabled = true; });
  }, 0);
});

// Bar heights from their data (the page's style rules allow no inline style attribute).
document.querySelectorAll("[data-bar]").forEach(function (bar) {
  bar.style.height = bar.getAttribute("data-bar") + "%";
});
