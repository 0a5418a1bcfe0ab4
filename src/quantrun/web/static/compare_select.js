/* Tick rows and compare them: the run list (runs) and a sweep's results table (its cells, as
 * SWEEP_ID:K). The bar and the boxes are the _macros.html macros compare_bar and compare_check.
 * The selection is kept in this tab's session storage (the form's data-storage-key), in the
 * order the rows were ticked (the first is the comparison's reference), so it survives paging,
 * sorting, filtering and coming back from the comparison. With data-open-url (a sweep's cells,
 * whose runs may not be written yet) Compare posts the selection there and follows the answer's
 * url: the comparison when every run is written, else the job that writes them first. */
(function () {
  "use strict";
  var form = document.getElementById("compare-form");
  if (!form) return;
  var qr = window.quantrun;
  var KEY = form.getAttribute("data-storage-key") || "quantrun.compare.selection";
  var NOUN = form.getAttribute("data-noun") || "run";
  var OPEN = form.getAttribute("data-open-url");
  var limit = parseInt(form.getAttribute("data-limit") || "20", 10);
  var button = document.getElementById("compare-button");
  var status = document.getElementById("compare-status");
  var clear = document.getElementById("compare-clear");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.compare-check"));

  function load() {
    try {
      var stored = JSON.parse(window.sessionStorage.getItem(KEY) || "[]");
      return Array.isArray(stored) ? stored.filter(function (id) { return typeof id === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }

  function save(ids) {
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(ids));
    } catch (e) {
      /* storage off: the selection lasts as long as the page */
    }
  }

  function label(value) {
    for (var i = 0; i < boxes.length; i += 1) {
      if (boxes[i].value === value && boxes[i].getAttribute("data-label")) return boxes[i].getAttribute("data-label");
    }
    return value.slice(0, 8);
  }

  function plural(n) {
    return n + " " + NOUN + (n === 1 ? "" : "s");
  }

  var selected = load();

  function render() {
    boxes.forEach(function (box) { box.checked = selected.indexOf(box.value) >= 0; });
    var n = selected.length;
    button.disabled = n < 2 || n > limit;
    clear.hidden = n === 0;
    if (n === 0) status.textContent = "Tick two or more " + NOUN + "s to compare them (at most " + limit + ").";
    else if (n === 1) status.textContent = "1 " + NOUN + " selected; tick at least one more.";
    else if (n > limit) status.textContent = plural(n) + " selected; at most " + limit + " are compared at once.";
    else status.textContent = plural(n) + " selected; the first ticked (" + label(selected[0]) + ") is the reference.";
    form.setAttribute("data-selected", String(n));
  }

  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var at = selected.indexOf(box.value);
      if (box.checked && at < 0) selected.push(box.value);
      if (!box.checked && at >= 0) selected.splice(at, 1);
      save(selected);
      render();
    });
  });

  clear.addEventListener("click", function () {
    selected = [];
    save(selected);
    render();
  });

  function open() {
    button.disabled = true;
    status.textContent = "Opening the " + NOUN + "s\u2026";
    qr.request(OPEN + encodeURIComponent(selected.join(",")), { method: "POST" }).then(function (result) {
      if (result.ok && result.body && result.body.url) {
        window.location.assign(result.body.url);
        return;
      }
      render();
      var old = document.getElementById("compare-error");
      if (old) old.remove();
      form.parentNode.insertBefore(qr.errorBox(result.body || {}, "compare-error"), form.nextSibling);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (selected.length < 2 || selected.length > limit) return;
    if (OPEN && qr) open();
    else window.location.assign("/compare?runs=" + selected.map(encodeURIComponent).join(","));
  });

  // Coming back from the comparison (back button, page cache) shows the stored selection.
  window.addEventListener("pageshow", function () {
    selected = load();
    render();
  });
  render();
})();
