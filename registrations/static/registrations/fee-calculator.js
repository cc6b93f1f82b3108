// The fee calculator on the registration page: shows the result in place (without
// JavaScript the form opens the calculator page with the same result).
(function () {
  var form = document.getElementById("fee-calculator");
  if (!form || !window.fetch) return;
  var out = document.getElementById("fee-result");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var params = new URLSearchParams(new FormData(form));
    params.set("format", "json");
    fetch(form.action + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        out.textContent = data.errors ? data.errors.join(" ") : data.text;
      })
      .catch(function () { form.submit(); });
  });
})();
