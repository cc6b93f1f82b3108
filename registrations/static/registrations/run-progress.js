// Polls the run's status and updates the progress bar; reloads once the run has finished.
(function () {
  var box = document.getElementById("run-progress");
  if (!box) return;
  var state = box.getAttribute("data-status");
  if (state === "done" || state === "failed") return;
  var bar = document.getElementById("progress-bar");
  var label = document.getElementById("run-status");
  function poll() {
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.progress;
        bar.textContent = data.progress + " %";
        label.textContent = data.status + " (" + data.progress + " %)";
        if (data.status === "done" || data.status === "failed") { window.location.reload(); }
        else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 800);
})();
