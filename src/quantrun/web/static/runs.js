/* Runs list: keep the "Jobs in flight" states current while a job is queued or running. */
(function () {
  "use strict";
  var qr = window.quantrun;
  if (!qr) return;
  var LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  var INTERVAL = 2000;

  function update(row, job) {
    row.setAttribute("data-state", job.state);
    var cell = row.querySelector(".job-state-cell");
    cell.textContent = "";
    cell.appendChild(qr.el("span", { className: "badge state state-" + job.state, "data-state": job.state, text: LABELS[job.state] || job.state }));
    if (job.state === "running" && job.stage) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(qr.el("span", { className: "stage", "data-stage": job.stage, text: job.stage }));
    }
    var done = row.querySelector(".job-done");
    if (done && job.state === "succeeded" && job.run_url) {
      done.textContent = "";
      done.appendChild(qr.el("a", { href: job.run_url + "?flash=" + (job.created === false ? "exists" : "created"), text: "Open the run" }));
      done.appendChild(document.createTextNode(" \u00b7 "));
    }
    if (done && job.state === "failed" && job.error) {
      done.textContent = "";
      done.appendChild(qr.el("code", { className: "error-code", text: job.error.code }));
      done.appendChild(document.createTextNode(" " + (job.error.title || "") + " \u00b7 "));
    }
  }

  function watch(row) {
    var id = row.getAttribute("data-job-id");
    function poll() {
      qr.request("/api/v1/jobs/" + encodeURIComponent(id)).then(function (result) {
        if (!result.ok) {
          window.setTimeout(poll, INTERVAL * 2);
          return;
        }
        update(row, result.body);
        if (result.body.state === "queued" || result.body.state === "running") window.setTimeout(poll, INTERVAL);
      });
    }
    window.setTimeout(poll, INTERVAL);
  }

  Array.prototype.forEach.call(document.querySelectorAll("#jobs-table tr.job-row"), function (row) {
    var state = row.getAttribute("data-state");
    if (state === "queued" || state === "running") watch(row);
  });
})();
