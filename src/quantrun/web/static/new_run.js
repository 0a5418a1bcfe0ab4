/* New-run form: parameter inputs per strategy, the validation preview, and submission.
 * Client checks are a convenience; the server validates everything again. */
(function () {
  "use strict";
  var qr = window.quantrun;
  var form = document.getElementById("new-run-form");
  if (!qr || !form) return;

  var el = qr.el;
  var fmt = qr.fmt;
  var config = qr.readJSON("form-data") || { max_input_bytes: 0, strategies: [] };
  var fileInput = document.getElementById("file");
  var strategySelect = document.getElementById("strategy");
  var riskSelect = document.getElementById("risk");
  var preview = document.getElementById("preview");
  var formError = document.getElementById("form-error");
  var submitButton = document.getElementById("submit-run");
  var submitStatus = document.getElementById("submit-status");

  function value(id) {
    var node = document.getElementById(id);
    return node ? node.value.trim() : "";
  }

  function checked(id) {
    var node = document.getElementById(id);
    return !!(node && node.checked);
  }

  /* Strategy parameters ----------------------------------------------------------------- */

  function activeParams() {
    return form.querySelector('.strategy-params[data-strategy="' + CSS.escape(strategySelect.value) + '"]');
  }

  function showStrategy() {
    Array.prototype.forEach.call(form.querySelectorAll(".strategy-params"), function (box) {
      var on = box.getAttribute("data-strategy") === strategySelect.value;
      box.hidden = !on;
      Array.prototype.forEach.call(box.querySelectorAll("input, select"), function (input) {
        input.disabled = !on;
      });
    });
    strategySelect.setAttribute("aria-describedby", "strategy-description-" + strategySelect.value);
  }

  function showRisk() {
    Array.prototype.forEach.call(document.querySelectorAll("#risk-levels tr[data-risk-level]"), function (row) {
      row.classList.toggle("selected", row.getAttribute("data-risk-level") === riskSelect.value);
    });
  }

  /* Collect the chosen strategy's parameters; returns {params} or {problem}. */
  function collectParams() {
    var params = {};
    var box = activeParams();
    if (!box) return { params: params };
    var inputs = box.querySelectorAll("[data-param]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var name = input.getAttribute("data-param");
      var type = input.getAttribute("data-type");
      input.removeAttribute("aria-invalid");
      if (type === "boolean") {
        params[name] = input.checked;
        continue;
      }
      var raw = input.value.trim();
      if (raw === "") {
        if (input.required) return { problem: name + " needs a value", input: input };
        continue; // the strategy's default applies
      }
      if (type === "integer" || type === "number") {
        var num = Number(raw);
        if (!isFinite(num) || (type === "integer" && !Number.isInteger(num))) {
          input.setAttribute("aria-invalid", "true");
          return { problem: name + " must be " + (type === "integer" ? "a whole number" : "a number"), input: input };
        }
        var min = input.getAttribute("min");
        var max = input.getAttribute("max");
        if ((min !== null && num < Number(min)) || (max !== null && num > Number(max))) {
          input.setAttribute("aria-invalid", "true");
          return { problem: name + " must be between " + min + " and " + max, input: input };
        }
        params[name] = num;
      } else {
        params[name] = raw;
      }
    }
    return { params: params };
  }

  /* Validation preview ------------------------------------------------------------------- */

  var previewSeq = 0;
  var previewAbort = null;

  function setPreview(state, children) {
    preview.setAttribute("data-state", state);
    preview.textContent = "";
    children.forEach(function (child) {
      preview.appendChild(child);
    });
  }

  function fact(dl, label, text, id) {
    dl.appendChild(el("dt", { text: label }));
    dl.appendChild(el("dd", { text: text, id: id || null }));
  }

  function checksTable(checks) {
    var failing = checks.filter(function (c) {
      return c.status === "fail";
    });
    if (!failing.length) return null;
    var body = el("tbody", null, failing.map(function (c) {
      var lines = c.first_rows && c.first_rows.length ? "first lines " + c.first_rows.join(", ") : "";
      return el("tr", { className: "check check-fail", "data-check": c.id }, [
        el("td", null, [el("code", { className: "error-code", text: c.code })]),
        el("td", { text: c.description || "" }),
        el("td", { className: "num", text: fmt.count(c.count) }),
        el("td", { text: lines + (c.note ? (lines ? "; " : "") + c.note : "") }),
      ]);
    }));
    return el("table", { className: "table compact", id: "preview-failing-checks" }, [
      el("thead", null, [
        el("tr", null, [
          el("th", { scope: "col", text: "Code" }),
          el("th", { scope: "col", text: "Check" }),
          el("th", { scope: "col", className: "num", text: "Rows" }),
          el("th", { scope: "col", text: "First lines / note" }),
        ]),
      ]),
      body,
    ]);
  }

  function renderReport(report) {
    var parts = [];
    var valid = !!report.valid;
    parts.push(
      el("h3", null, [
        "Validation preview ",
        el("span", {
          className: "badge " + (valid ? "status-pass" : "status-fail"),
          id: "preview-verdict",
          text: valid ? "valid" : "invalid",
        }),
      ])
    );
    var dl = el("dl", { className: "facts", id: "preview-facts" });
    (report.sources || []).forEach(function (src) {
      fact(dl, "File", src.name + " (" + fmt.bytes(src.bytes) + ")");
      fact(dl, "Detected format", src.format + (src.has_header ? ", with header" : ", no header"), "preview-format");
      if (src.time_column) {
        var chosen = src.time_column;
        fact(
          dl,
          "Time column",
          "column " + chosen.column + (chosen.rule === "pandas-index" ? " (unnamed: a pandas index)" : " \u201c" + chosen.name + "\u201d"),
          "preview-time-column"
        );
      }
    });
    if (report.timestamp_kinds && report.timestamp_kinds.length) {
      fact(dl, "Timestamps", report.timestamp_kinds.join(", "));
    }
    if (report.sessions) {
      var handling = [];
      if (report.sessions.session_dates) handling.push("session dates (each bar labelled by its date, 00:00 UTC)");
      if (report.sessions.calendar) handling.push("expected bars are the sessions of " + report.sessions.calendar);
      fact(dl, "Sessions", handling.join("; "), "preview-sessions");
    }
    var q = report.quality;
    if (q) {
      fact(dl, "Rows", fmt.count(q.rows) + " (" + q.timeframe + ")", "preview-rows");
      fact(dl, "First bar", fmt.ts(q.first_bar), "preview-first-bar");
      fact(dl, "Last bar", fmt.ts(q.last_bar), "preview-last-bar");
      fact(
        dl,
        "Coverage",
        fmt.percent(q.coverage, 4) + " (" + fmt.count(q.present_bars) + " of " + fmt.count(q.expected_bars) + " expected)",
        "preview-coverage"
      );
      var gaps = q.gaps || {};
      var gapText = fmt.count(gaps.count) + " gap(s), " + fmt.count(gaps.missing_bars) + " missing bar(s)";
      if (gaps.largest && gaps.largest.length) {
        gapText += "; largest: " + gaps.largest.slice(0, 3).map(function (g) {
          return fmt.ts(g.start) + " \u2192 " + fmt.ts(g.end) + " (" + fmt.count(g.missing_bars) + ")";
        }).join("; ");
      }
      fact(dl, "Gaps", gapText, "preview-gaps");
      if (q.outside_sessions) fact(dl, "Outside the sessions", fmt.count(q.outside_sessions.count) + " bar(s)", "preview-outside-sessions");
      if (q.zero_volume_bars) fact(dl, "Zero-volume bars", fmt.count(q.zero_volume_bars.count));
      if (q.outlier_returns) fact(dl, "Outlier returns", fmt.count(q.outlier_returns.count));
      if (q.timezone_assumed) fact(dl, "Time zone assumed", q.timezone_assumed);
      var repairs = q.repairs || {};
      var applied = Object.keys(repairs).map(function (k) {
        var r = repairs[k];
        return k + ": " + Object.keys(r).map(function (f) { return f.replace(/_/g, " ") + " " + r[f]; }).join(", ");
      });
      if (applied.length) fact(dl, "Repairs", applied.join("; "));
    }
    if (dl.childNodes.length) parts.push(dl);
    var checks = report.checks && report.checks.length ? report.checks : (q && q.checks) || [];
    var table = checksTable(checks);
    if (table) {
      parts.push(el("h4", { text: "Failing checks" }));
      parts.push(table);
    }
    if (report.error) parts.push(qr.errorBox(report.error, "preview-error"));
    if (valid) {
      parts.push(el("p", { className: "help", text: "The file passes every check. Gaps are reported, never filled." }));
    }
    setPreview(valid ? "valid" : "invalid", parts);
  }

  function runPreview() {
    var file = fileInput.files && fileInput.files[0];
    if (previewAbort) previewAbort.abort();
    if (!file) {
      setPreview("idle", [el("p", { className: "muted", text: "Choose a file to see its validation preview." })]);
      return;
    }
    var local = clientFileProblem(file);
    if (local) {
      setPreview("invalid", [el("h3", { text: "Validation preview" }), qr.errorBox(local, "preview-error")]);
      return;
    }
    var seq = ++previewSeq;
    previewAbort = typeof AbortController === "function" ? new AbortController() : null;
    setPreview("loading", [el("p", { className: "muted", text: "Checking " + file.name + " (" + fmt.bytes(file.size) + ")\u2026" })]);
    var data = new FormData();
    data.append("file", file, file.name);
    data.append("timeframe", value("base_timeframe") || "1m");
    data.append("format", value("format") || "auto");
    if (value("timezone")) data.append("timezone", value("timezone"));
    if (value("time_column")) data.append("time_column", value("time_column"));
    if (value("calendar")) data.append("calendar", value("calendar"));
    if (checked("sort")) data.append("sort", "true");
    if (checked("drop_exact_duplicates")) data.append("drop_exact_duplicates", "true");
    qr.request("/api/v1/inspect", {
      method: "POST",
      body: data,
      signal: previewAbort ? previewAbort.signal : undefined,
    }).then(
      function (result) {
        if (seq !== previewSeq) return; // a newer preview is on its way
        if (result.ok && result.body) renderReport(result.body);
        else setPreview("invalid", [el("h3", { text: "Validation preview" }), qr.errorBox(result.body || {}, "preview-error")]);
      },
      function () {
        /* aborted: a newer preview replaced it */
      }
    );
  }

  function clientFileProblem(file) {
    if (config.max_input_bytes && file.size > config.max_input_bytes) {
      return {
        code: "LIMIT_INPUT_SIZE",
        title: "File too large",
        detail: file.name + " is " + fmt.bytes(file.size) + "; this server accepts at most " + fmt.bytes(config.max_input_bytes) + ".",
        hint: "Split the file or ask the operator to raise QUANTRUN_MAX_INPUT_BYTES.",
      };
    }
    if (file.size === 0) {
      return {
        code: "INPUT_EMPTY",
        title: "Empty file",
        detail: file.name + " has no bytes.",
        hint: "Choose a CSV that contains a header and at least one bar.",
      };
    }
    return null;
  }

  /* Submission --------------------------------------------------------------------------- */

  function showError(err) {
    formError.textContent = "";
    if (err) formError.appendChild(qr.errorBox(err, "form-error-box"));
  }

  function clientProblem(detail, hint, focus) {
    if (focus && focus.focus) focus.focus();
    return { code: null, title: "Check the form", detail: detail, hint: hint || "" };
  }

  function submit(event) {
    event.preventDefault();
    showError(null);
    var file = fileInput.files && fileInput.files[0];
    var datasetSelect = document.getElementById("dataset");
    var dataset = datasetSelect ? datasetSelect.value : "";
    if (!file && !dataset) {
      showError({ code: "UPLOAD_MISSING", title: "No file chosen", detail: "Choose a CSV file of OHLCV bars, or a stored dataset.", hint: "" });
      fileInput.focus();
      return;
    }
    var local = dataset ? null : clientFileProblem(file);
    if (local) {
      showError(local);
      return;
    }
    var symbol = value("symbol");
    if (!symbol) {
      showError(clientProblem("Enter the instrument's symbol, e.g. BTCUSDT.", "The symbol is recorded in the run and shown in the list; it is never guessed from the file name.", document.getElementById("symbol")));
      return;
    }
    var collected = collectParams();
    if (collected.problem) {
      showError(clientProblem(collected.problem + ".", "Each parameter's range is shown under its input.", collected.input));
      return;
    }
    var data = new FormData();
    if (dataset) {
      data.append("dataset", dataset);
    } else {
      data.append("file", file, file.name);
    }
    data.append("symbol", symbol);
    data.append("timeframe", value("timeframe"));
    data.append("strategy", strategySelect.value);
    data.append("params", JSON.stringify(collected.params));
    data.append("risk", riskSelect.value);
    ["commission_bps", "slippage_bps", "cash", "start", "end", "timezone"].forEach(function (name) {
      if (value(name) !== "") data.append(name, value(name));
    });
    if (!dataset) {
      /* How to read the file; a stored dataset was read with its own options. */
      data.append("base_timeframe", value("base_timeframe") || "1m");
      data.append("format", value("format") || "auto");
      if (checked("sort")) data.append("sort", "true");
      if (checked("drop_exact_duplicates")) data.append("drop_exact_duplicates", "true");
    } else {
      data.append("base_timeframe", datasetSelect.options[datasetSelect.selectedIndex].getAttribute("data-timeframe") || "1m");
    }
    /* Fields rendered from the request model's declarations (views.declared_fields). */
    Array.prototype.forEach.call(document.querySelectorAll("[data-request-field]"), function (input) {
      var name = input.getAttribute("data-request-field");
      if (input.type === "checkbox") {
        if (input.checked) data.append(name, "true");
      } else if (input.value.trim() !== "") {
        data.append(name, input.value.trim());
      }
    });

    submitButton.disabled = true;
    submitStatus.textContent = dataset ? "Submitting\u2026" : "Uploading " + file.name + "\u2026";
    qr.request("/api/v1/runs", { method: "POST", body: data }).then(function (result) {
      var body = result.body || {};
      if (result.status === 202 && body.job) {
        submitStatus.textContent = "Queued; following the job\u2026";
        window.location.assign("/jobs/" + encodeURIComponent(body.job.job_id));
        return;
      }
      if (result.status === 200 && body.run_id) {
        submitStatus.textContent = "This run already exists; opening it\u2026";
        window.location.assign("/runs/" + encodeURIComponent(body.run_id) + "?flash=exists");
        return;
      }
      submitButton.disabled = false;
      submitStatus.textContent = "";
      showError(result.ok ? { code: null, title: "Unexpected answer", detail: "The server answered " + result.status + ".", hint: "Look for the run under Runs." } : body);
      formError.scrollIntoView({ block: "nearest" });
    });
  }

  strategySelect.addEventListener("change", showStrategy);
  riskSelect.addEventListener("change", showRisk);
  fileInput.addEventListener("change", runPreview);
  ["base_timeframe", "format", "sort", "drop_exact_duplicates"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", runPreview);
  });
  document.getElementById("timezone").addEventListener("change", runPreview);
  ["time_column", "calendar"].forEach(function (id) {
    var node = document.getElementById(id); // rendered from the request's declaration
    if (node) node.addEventListener("change", runPreview);
  });
  form.addEventListener("submit", submit);
  showStrategy();
  showRisk();
  if (fileInput.files && fileInput.files.length) runPreview();
})();
