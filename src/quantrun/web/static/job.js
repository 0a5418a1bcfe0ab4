/* Job progress page: poll the job every ~500 ms until it succeeds or fails, never blocking. */
(function () {
  "use strict";
  var qr = window.quantrun;
  var root = document.getElementById("job");
  if (!qr || !root) return;

  var apiUrl = root.getAttribute("data-api-url");
  /* The build's stages, in order, as the page lists them (runs.builder.BUILD_STAGES). */
  var STAGES = Array.prototype.map.call(document.querySelectorAll("#job-stages li"), function (li) {
    return li.getAttribute("data-stage");
  });
  var LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  /* Stages outside the progress list, said in words. */
  var STAGE_TEXT = { waiting: "waiting for a free build slot" };
  var INTERVAL = 500;
  var STILL_WORKING_AFTER = 15000;
  var started = Date.now();
  var failures = 0;
  var timer = null;

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    var node = byId(id);
    if (node) node.textContent = text;
  }

  function runLink(job) {
    return job.run_url + "?flash=" + (job.created === false ? "exists" : "created");
  }

  function render(job) {
    root.setAttribute("data-state", job.state);
    var state = byId("job-state");
    state.setAttribute("data-state", job.state);
    var badge = state.querySelector(".badge");
    badge.className = "badge state state-" + job.state;
    badge.setAttribute("data-state", job.state);
    badge.textContent = LABELS[job.state] || job.state;
    var stage = byId("job-stage");
    stage.setAttribute("data-stage", job.stage || "");
    stage.textContent = job.state === "running" && job.stage ? STAGE_TEXT[job.stage] || job.stage : "";
    document.title = "Job " + job.job_id.slice(0, 12) + " \u00b7 " + (LABELS[job.state] || job.state) + " \u00b7 quantrun";

    var current = STAGES.indexOf(job.stage);
    var items = document.querySelectorAll("#job-stages li");
    Array.prototype.forEach.call(items, function (li, i) {
      var done = job.state === "succeeded" || (job.state === "running" && current > i);
      li.className = done ? "done" : job.state === "running" && current === i ? "current" : "";
    });
    var bar = byId("job-progress");
    if (bar) {
      var pct = job.state === "succeeded" ? 100 : job.state === "running" ? Math.max(5, (Math.max(current, 0) / STAGES.length) * 100) : job.state === "failed" ? 100 : 0;
      if (job.kind === "sweep" && job.state === "running" && job.cells_total) {
        pct = Math.max(5, (100 * (job.cells_done || 0)) / job.cells_total);
      }
      bar.style.width = pct + "%";
    }
    if (job.kind === "sweep") {
      setText("job-cells", job.cells_total ? (job.cells_done || 0) + " of " + job.cells_total + " cells" : "counting the sweep's cells\u2026");
      /* The estimate made before the cells were computed, and the time left as measured. */
      var estimate = byId("job-estimate");
      if (estimate) {
        estimate.setAttribute("data-seconds", job.estimate ? String(job.estimate.seconds) : "");
        estimate.textContent = job.estimate ? "Estimated " + (job.estimate.seconds >= 1 ? job.estimate.seconds.toFixed(1) : job.estimate.seconds.toPrecision(2)) + " s for the cells left when it started: " + job.estimate.basis + "." : "";
      }
      var eta = byId("job-eta");
      if (eta) {
        var left = job.eta_seconds;
        eta.setAttribute("data-seconds", left === null || left === undefined ? "" : String(left));
        eta.textContent = job.state === "running" && left !== null && left !== undefined ? "About " + Math.round(left) + " s left." : "";
      }
    }

    setText("job-created-at", qr.fmt.ts(job.created_at));
    setText("job-started-at", qr.fmt.ts(job.started_at));
    setText("job-finished-at", qr.fmt.ts(job.finished_at));
    setText("job-updated-at", qr.fmt.ts(job.updated_at));
    setText("job-attempts", String(job.attempts || 0));

    var result = byId("job-result");
    var retry = byId("retry-button");
    var fresh = byId("job-new-run");
    if (fresh) fresh.hidden = job.state !== "failed";
    if (job.state === "failed") {
      result.textContent = "";
      if (job.error) result.appendChild(qr.errorBox(job.error, "job-error"));
      retry.hidden = false;
      retry.disabled = false;
    } else {
      retry.hidden = true;
    }
    if (job.state === "succeeded" && job.compare_url) {
      result.textContent = "";
      result.appendChild(
        qr.el("p", { className: "flash flash-success", id: "job-success" }, [
          job.created === false ? "Runs already existed. " : "Runs written. ",
          qr.el("a", { id: "job-compare-link", href: job.compare_url, text: "Compare them" }),
        ])
      );
    } else if (job.state === "succeeded" && job.sweep_url) {
      result.textContent = "";
      result.appendChild(
        qr.el("p", { className: "flash flash-success", id: "job-success" }, [
          job.created === false ? "Sweep already existed. " : "Sweep created. ",
          qr.el("a", { id: "job-sweep-link", href: job.sweep_url, text: "Open the sweep" }),
        ])
      );
    } else if (job.state === "succeeded" && job.run_url) {
      result.textContent = "";
      result.appendChild(
        qr.el("p", { className: "flash flash-success", id: "job-success" }, [
          job.created === false ? "Run already existed. " : "Run created. ",
          qr.el("a", { id: "job-run-link", href: runLink(job), text: "Open the run" }),
        ])
      );
    }
  }

  function note(text) {
    setText("job-note", text);
  }

  function poll() {
    qr.request(apiUrl).then(function (result) {
      if (!result.ok) {
        failures += 1;
        if (result.status === 404) {
          note("");
          byId("job-result").textContent = "";
          byId("job-result").appendChild(qr.errorBox(result.body));
          return; // the job is gone: nothing more to wait for
        }
        note("Lost contact with the server (" + (result.body && result.body.code) + "); trying again\u2026");
        timer = window.setTimeout(poll, Math.min(5000, INTERVAL * Math.pow(2, failures)));
        return;
      }
      failures = 0;
      var job = result.body;
      render(job);
      if (job.state === "succeeded") {
        note(job.compare_url ? "Opening the comparison\u2026" : job.sweep_url ? "Opening the sweep\u2026" : "Opening the run\u2026");
        if (job.compare_url) window.location.replace(job.compare_url);
        else if (job.sweep_url) window.location.replace(job.sweep_url);
        else if (job.run_url) window.location.replace(runLink(job));
        return;
      }
      if (job.state === "failed") {
        note("");
        return;
      }
      var waited = Date.now() - started;
      if (waited > STILL_WORKING_AFTER) {
        note(
          job.state === "queued"
            ? "Still queued after " + Math.round(waited / 1000) + " s: the worker is busy with other jobs. You can leave this page; the job continues and is listed under Runs."
            : "Still working after " + Math.round(waited / 1000) + " s. Large files take a while; you can leave this page, the job continues and is listed under Runs."
        );
      }
      timer = window.setTimeout(poll, INTERVAL);
    });
  }

  var initial = root.getAttribute("data-state");
  if (initial === "succeeded") {
    var link = byId("job-compare-link") || byId("job-sweep-link") || byId("job-run-link");
    if (link) window.location.replace(link.getAttribute("href"));
  } else if (initial !== "failed") {
    timer = window.setTimeout(poll, 100);
  }
  window.addEventListener("pagehide", function () {
    if (timer) window.clearTimeout(timer);
  });
})();
