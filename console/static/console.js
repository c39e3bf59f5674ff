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

// Result upload: files dropped on the form go into its file field; the form then posts as usual
// (the body streams to the server; nothing is read into the page).
document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
  var input = zone.querySelector("input[type=file]");
  var chosen = zone.querySelector("[data-chosen]");
  function show() {
    var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
    chosen.textContent = names.length ? "已选择：" + names.join("、") : "";
  }
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    input.files = event.dataTransfer.files;
    show();
  });
  input.addEventListener("change", show);
});
