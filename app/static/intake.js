// Intake form helpers: fields per applicant type, returning-applicant prefill, no double submit.
(function () {
  "use strict";
  var form = document.querySelector("[data-testid=intake-form]");
  if (!form) { return; }
  var type = document.getElementById("applicant_type");

  function showFieldsForType() {
    document.querySelectorAll("[data-show-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-show-for") !== type.value;
    });
  }
  type.addEventListener("change", showFieldsForType);
  showFieldsForType();

  // A returning applicant is found by ID number; only empty fields are filled, nothing typed is lost.
  var idInput = document.getElementById("applicant_id_number");
  var status = document.getElementById("applicant_lookup_status");
  idInput.addEventListener("change", function () {
    var value = idInput.value.trim();
    if (value.length < 5) { return; }
    fetch(idInput.dataset.lookup + "?id_number=" + encodeURIComponent(value), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (found) {
        if (!found) { status.textContent = ""; return; }
        [["applicant_name", found.name], ["applicant_phone", found.phone],
         ["applicant_legal_representative", found.legal_representative]].forEach(function (pair) {
          var input = document.getElementById(pair[0]);
          if (input && !input.value && pair[1]) { input.value = pair[1]; }
        });
        type.value = found.type;
        if (found.type === "person") { document.getElementById("applicant_id_type").value = found.id_type; }
        showFieldsForType();
        status.textContent = status.dataset.foundText || "\u2713";
      })
      .catch(function () { status.textContent = ""; });
  });

  // The server also refuses a second case for the same form; this spares the clerk the wait.
  var submitted = false;
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); }
    submitted = true;
  });
})();
