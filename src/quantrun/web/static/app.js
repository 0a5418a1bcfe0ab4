/* quantrun UI: shared helpers and the small behaviours every page may use.
 * Plain JavaScript, no build step. Everything user-supplied is written with textContent. */
(function () {
  "use strict";

  var DASH = "\u2014";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "className") node.className = value;
        else if (key === "hidden") node.hidden = true;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function number(v, digits) {
    if (v === Infinity) return "\u221e";
    if (v === -Infinity) return "-\u221e";
    if (!isNum(v)) return DASH;
    var d = digits === undefined ? 2 : digits;
    return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }

  function percent(v, digits) {
    if (!isNum(v)) return DASH;
    return number(v * 100, digits === undefined ? 2 : digits) + "%";
  }

  function count(v) {
    if (!isNum(v)) return DASH;
    return Math.round(v).toLocaleString("en-US");
  }

  function compact(v) {
    /* Indicator values and the like: four significant digits, no exponent for usual sizes. */
    if (!isNum(v)) return v === null || v === undefined ? DASH : String(v);
    var size = Math.abs(v);
    if (size !== 0 && (size >= 1e9 || size < 1e-4)) return v.toExponential(3);
    var digits = size >= 1000 ? 2 : size >= 1 ? 4 : 6;
    return number(v, digits).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }

  function ts(v) {
    if (typeof v !== "string" || !v) return DASH;
    if (/Z$/.test(v) && v.indexOf("T") > 0) return v.slice(0, -1).replace("T", " ") + " UTC";
    return v;
  }

  function bytes(v) {
    if (!isNum(v)) return DASH;
    var units = ["B", "KiB", "MiB", "GiB"];
    var i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i += 1;
    }
    return i === 0 ? count(v) + " B" : number(v, 1) + " " + units[i];
  }

  /* fetch that always resolves to {ok, status, body}; failures carry an error object of the
   * API's shape (code, title, detail, hint) so the page can show it the same way. */
  function request(url, options) {
    /* X-Quantrun-Client marks a request as sent by quantrun's own pages: the server refuses
     * state-changing browser requests without it (a cross-site form cannot set it). */
    var headers = { Accept: "application/json", "X-Quantrun-Client": "web" };
    return fetch(url, Object.assign({}, options || {}, { headers: headers }))
      .then(function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch (e) {
            body = null;
          }
          if (!response.ok && !(body && body.code)) {
            body = {
              code: null,
              title: "The server answered " + response.status,
              detail: response.statusText || "unexpected response",
              hint: "Try again; if it keeps happening, check the server log.",
            };
          }
          return { ok: response.ok, status: response.status, body: body };
        });
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") throw err;
        return {
          ok: false,
          status: 0,
          body: {
            code: null,
            title: "Could not reach the quantrun server",
            detail: "The request did not get an answer.",
            hint: "Check that `quantrun serve` is still running, then try again.",
          },
        };
      });
  }

  function errorBox(err, id) {
    var head = [];
    if (err.code) head.push(el("code", { className: "error-code", text: err.code }), " ");
    head.push(el("strong", { className: "error-title", text: err.title || "Something went wrong" }));
    var parts = [el("p", { className: "error-head" }, head)];
    if (err.detail) parts.push(el("p", { className: "error-detail", text: err.detail }));
    if (err.hint) {
      parts.push(
        el("p", { className: "error-hint" }, [el("span", { className: "label", text: "What to do: " }), err.hint])
      );
    }
    if (err.lines && err.lines.length) {
      parts.push(
        el("p", { className: "error-lines" }, [
          el("span", { className: "label", text: "Lines: " }),
          err.lines.join(", "),
        ])
      );
    }
    if (err.request_id) {
      parts.push(el("p", { className: "muted small", text: "Request id " + err.request_id }));
    }
    return el("div", { className: "error-box", role: "alert", id: id || null }, parts);
  }

  function readJSON(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (e) {
      return null;
    }
  }

  /* Retry buttons (runs list, job page): POST the retry, then follow the job. */
  function bindRetry(root) {
    root.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-retry-job]") : null;
      if (!button) return;
      event.preventDefault();
      var jobId = button.getAttribute("data-retry-job");
      var status = button.parentNode.querySelector(".retry-error");
      button.disabled = true;
      if (status) status.textContent = "";
      request("/api/v1/jobs/" + encodeURIComponent(jobId) + "/retry", { method: "POST" }).then(
        function (result) {
          if (result.ok) {
            window.location.assign("/jobs/" + encodeURIComponent(jobId));
            return;
          }
          button.disabled = false;
          var err = result.body || {};
          if (status) {
            status.textContent = (err.code ? err.code + ": " : "") + (err.title || "") +
              (err.detail ? " (" + err.detail + ")" : "") + (err.hint ? " " + err.hint : "");
          }
        }
      );
    });
  }

  /* Charts (plotly.js, served locally): one look and one shared time axis on every page. */

  var FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", size: 12, color: "#1d2330" };

  function baseLayout(extra) {
    var layout = {
      font: FONT,
      margin: { l: 80, r: 20, t: 28, b: 36 },
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      hovermode: "x",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.12, font: { size: 11 } },
      xaxis: { type: "date", gridcolor: "#eef0f4", linecolor: "#c4cad4", rangeslider: { visible: false } },
      yaxis: { gridcolor: "#eef0f4", linecolor: "#c4cad4", zeroline: false, automargin: false },
    };
    Object.keys(extra || {}).forEach(function (key) {
      if (typeof extra[key] === "object" && layout[key] && !Array.isArray(extra[key])) {
        layout[key] = Object.assign({}, layout[key], extra[key]);
      } else {
        layout[key] = extra[key];
      }
    });
    return layout;
  }

  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  /* Zooming or panning one chart moves the others: one shared time axis. */
  function linkXAxes(divs, home) {
    var syncing = false;
    divs.forEach(function (source) {
      source.on("plotly_relayout", function (change) {
        if (syncing) return;
        var update = null;
        var targets = divs.filter(function (div) { return div !== source; });
        if (change["xaxis.autorange"]) {
          // A reset (double click) returns every chart, this one included, to the full range.
          update = home ? { "xaxis.range": home.slice() } : { "xaxis.autorange": true };
          targets = divs;
        }
        if (change["xaxis.range[0]"] !== undefined) {
          update = { "xaxis.range": [change["xaxis.range[0]"], change["xaxis.range[1]"]] };
        } else if (change["xaxis.range"]) {
          update = { "xaxis.range": change["xaxis.range"] };
        }
        if (!update) return;
        syncing = true;
        var pending = targets.map(function (div) { return window.Plotly.relayout(div, update); });
        Promise.all(pending).then(
          function () { syncing = false; },
          function () { syncing = false; }
        );
      });
    });
  }

  window.quantrun = {
    el: el,
    fmt: { number: number, percent: percent, count: count, compact: compact, ts: ts, bytes: bytes },
    request: request,
    errorBox: errorBox,
    readJSON: readJSON,
    charts: { layout: baseLayout, config: CONFIG, linkXAxes: linkXAxes },
  };

  bindRetry(document);
})();
