// Sign-up: live subdomain check and the provisioning progress (progressive enhancement).
(function () {
  "use strict";
  var form = document.querySelector("form[data-check-url]");
  if (form) {
    var input = form.querySelector("input[name=slug]");
    var status = document.getElementById("slug-status");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var slug = input.value.trim().toLowerCase();
        if (!slug) { return; }
        fetch(form.dataset.checkUrl + "?slug=" + encodeURIComponent(slug), {credentials: "same-origin"})
          .then(function (r) { return r.json(); })
          .then(function (data) {
            if (input.value.trim().toLowerCase() !== data.slug) { return; }
            status.textContent = data.message;
            status.dataset.available = data.available ? "yes" : "no";
            input.setAttribute("aria-invalid", data.available ? "false" : "true");
          });
      }, 250);
    });
  }
  var progress = document.getElementById("progress");
  if (progress) {
    var poll = function () {
      fetch(progress.dataset.statusUrl, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          data.steps.forEach(function (step) {
            var item = progress.querySelector("[data-step='" + step.key + "']");
            if (item && step.done && !item.dataset.done) {
              item.dataset.done = "1";
              item.firstElementChild.textContent = "✔";
              item.querySelector(".sr-only").textContent = progress.dataset.doneLabel;
            }
          });
          var text = document.getElementById("progress-status");
          if (data.ready) {
            text.textContent = progress.dataset.readyText || data.status_label;
            var link = document.getElementById("progress-link");
            link.querySelector("a").href = data.portal_url;
            link.hidden = false;
            return;
          }
          text.textContent = data.status_label;
          setTimeout(poll, 700);
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    if (document.getElementById("progress-link").hidden) { setTimeout(poll, 300); }
  }
})();
