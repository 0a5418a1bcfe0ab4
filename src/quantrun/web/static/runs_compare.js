/* Runs list: tick runs and compare them. The selection is kept in this tab's session storage,
 * in the order the runs were ticked (the first is the comparison's reference), so it survives
 * paging, sorting, filtering and coming back from the comparison. */
(function () {
  "use strict";
  var form = document.getElementById("compare-form");
  if (!form) return;
  var KEY = "quantrun.compare.selection";
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

  var selected = load();

  function render() {
    boxes.forEach(function (box) { box.checked = selected.indexOf(box.value) >= 0; });
    var n = selected.length;
    button.disabled = n < 2 || n > limit;
    clear.hidden = n === 0;
    if (n === 0) status.textContent = "Tick two or more runs to compare them (at most " + limit + ").";
    else if (n === 1) status.textContent = "1 run selected; tick at least one more.";
    else if (n > limit) status.textContent = n + " runs selected; at most " + limit + " are compared at once.";
    else status.textContent = n + " runs selected; the first ticked (" + selected[0].slice(0, 8) + ") is the reference.";
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

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (selected.length < 2 || selected.length > limit) return;
    window.location.assign("/compare?runs=" + selected.map(encodeURIComponent).join(","));
  });

  // Coming back from the comparison (back button, page cache) shows the stored selection.
  window.addEventListener("pageshow", function () {
    selected = load();
    render();
  });
  render();
})();
