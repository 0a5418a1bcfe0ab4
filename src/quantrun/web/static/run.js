/* Run workspace: price/equity/drawdown charts (plotly.js, served locally) and the paged
 * decision records. The chart data is embedded in the page as JSON (#chart-data). */
(function () {
  "use strict";
  var qr = window.quantrun;
  if (!qr) return;
  var el = qr.el;
  var fmt = qr.fmt;

  var EXIT_COLORS = {
    signal: "#4b5563",
    stop_loss: "#d62728",
    take_profit: "#2ca02c",
    max_drawdown_halt: "#9467bd",
  };
  var EXIT_FALLBACK = "#ff7f0e";
  var UP = "#16a34a";
  var DOWN = "#dc2626";

  /* Charts ------------------------------------------------------------------------------- */

  var baseLayout = qr.charts.layout;
  var CONFIG = qr.charts.config;
  var linkXAxes = qr.charts.linkXAxes;

  function priceTraces(chart) {
    var bars = chart.bars;
    var traces = [
      {
        type: "candlestick",
        name: "price",
        x: bars.ts,
        open: bars.open,
        high: bars.high,
        low: bars.low,
        close: bars.close,
        increasing: { line: { color: UP, width: 1 }, fillcolor: UP },
        decreasing: { line: { color: DOWN, width: 1 }, fillcolor: DOWN },
        whiskerwidth: 0,
        showlegend: false,
      },
    ];
    var groups = { long: { x: [], y: [] }, short: { x: [], y: [] } };
    var entries = chart.entries || { ts: [] };
    for (var i = 0; i < entries.ts.length; i++) {
      var side = entries.direction[i] === "short" ? "short" : "long";
      groups[side].x.push(entries.ts[i]);
      groups[side].y.push(entries.price[i]);
    }
    if (groups.long.x.length) {
      traces.push({
        type: "scatter", mode: "markers", name: "entry long", x: groups.long.x, y: groups.long.y,
        marker: { symbol: "triangle-up", size: 11, color: UP, line: { color: "#064e22", width: 1 } },
        hovertemplate: "entry long<br>%{x}<br>%{y:,.2f}<extra></extra>",
      });
    }
    if (groups.short.x.length) {
      traces.push({
        type: "scatter", mode: "markers", name: "entry short", x: groups.short.x, y: groups.short.y,
        marker: { symbol: "triangle-down", size: 11, color: DOWN, line: { color: "#7f1d1d", width: 1 } },
        hovertemplate: "entry short<br>%{x}<br>%{y:,.2f}<extra></extra>",
      });
    }
    var exits = chart.exits || { ts: [] };
    var byReason = {};
    var order = [];
    for (var j = 0; j < exits.ts.length; j++) {
      var reason = exits.reason[j] || "exit";
      if (!byReason[reason]) {
        byReason[reason] = { x: [], y: [] };
        order.push(reason);
      }
      byReason[reason].x.push(exits.ts[j]);
      byReason[reason].y.push(exits.price[j]);
    }
    order.forEach(function (reason) {
      var color = EXIT_COLORS[reason] || EXIT_FALLBACK;
      var label = "exit: " + reason.replace(/_/g, " ");
      traces.push({
        type: "scatter", mode: "markers", name: label, x: byReason[reason].x, y: byReason[reason].y,
        marker: { symbol: "x-thin-open", size: 10, color: color, line: { color: color, width: 2 } },
        hovertemplate: label + "<br>%{x}<br>%{y:,.2f}<extra></extra>",
      });
    });
    return traces;
  }

  function drawCharts() {
    var chart = qr.readJSON("chart-data");
    var price = document.getElementById("price-chart");
    if (!chart || !price) return;
    if (!window.Plotly) {
      price.appendChild(el("p", { className: "note", text: "The chart library did not load (/static/vendor/plotly.min.js)." }));
      return;
    }
    var Plotly = window.Plotly;
    var equityDiv = document.getElementById("equity-chart");
    var drawdownDiv = document.getElementById("drawdown-chart");
    var eq = chart.equity || { ts: [], equity: [], drawdown: [] };
    // One time range for all three charts, so they read as one shared x axis.
    var ends = [chart.bars.ts[0], chart.bars.ts[chart.bars.ts.length - 1], eq.ts[0], eq.ts[eq.ts.length - 1]]
      .filter(function (t) { return typeof t === "string"; })
      .sort();
    var range = ends.length ? { range: [ends[0], ends[ends.length - 1]] } : {};

    var drawn = [
      Plotly.newPlot(price, priceTraces(chart), baseLayout({ xaxis: range, yaxis: { title: { text: "price" } } }), CONFIG),
      Plotly.newPlot(
        equityDiv,
        [{
          type: "scatter", mode: "lines", name: "equity", x: eq.ts, y: eq.equity,
          line: { color: "#2457c5", width: 1.6 }, hovertemplate: "%{x}<br>equity %{y:,.2f}<extra></extra>",
        }],
        baseLayout({ showlegend: false, margin: { t: 12 }, xaxis: range, yaxis: { title: { text: "equity" }, tickformat: ",.0f" } }),
        CONFIG
      ),
      Plotly.newPlot(
        drawdownDiv,
        [{
          type: "scatter", mode: "lines", name: "drawdown", x: eq.ts, y: eq.drawdown, fill: "tozeroy",
          line: { color: "#b42318", width: 1 }, fillcolor: "rgba(180, 35, 24, 0.18)",
          hovertemplate: "%{x}<br>drawdown %{y:.2%}<extra></extra>",
        }],
        baseLayout({ showlegend: false, margin: { t: 12 }, xaxis: range, yaxis: { title: { text: "drawdown" }, tickformat: ".1%", rangemode: "tozero" } }),
        CONFIG
      ),
    ];
    Promise.all(drawn).then(function () {
      linkXAxes([price, equityDiv, drawdownDiv], range.range);
    });
  }

  /* Decision records ----------------------------------------------------------------------- */

  function decisions() {
    var section = document.getElementById("decisions");
    var table = document.getElementById("decisions-table");
    if (!section || !table) return;
    var api = section.getAttribute("data-api-url");
    var body = table.querySelector("tbody");
    var actionSelect = document.getElementById("decisions-action");
    var sizeSelect = document.getElementById("decisions-size");
    var prev = document.getElementById("decisions-prev");
    var next = document.getElementById("decisions-next");
    var info = document.getElementById("decisions-page-info");
    var errorLine = document.getElementById("decisions-error");
    var query = new URLSearchParams(window.location.search);
    var linkedPage = parseInt(query.get("decisions_page") || "", 10);
    var linkedSeq = query.get("decision");
    var state = { page: linkedPage > 0 ? linkedPage : 1, pages: 1 };
    var seq = 0;

    function indicators(obj) {
      if (!obj || typeof obj !== "object") return "";
      return Object.keys(obj).map(function (k) { return k + "=" + fmt.compact(obj[k]); }).join("  ");
    }

    function arrow(before, after, digits) {
      if (before === after) return fmt.number(after, digits);
      return fmt.number(before, digits) + " \u2192 " + fmt.number(after, digits);
    }

    function row(d) {
      return el("tr", { className: "decision decision-" + d.action, "data-action": d.action, "data-seq": d.seq }, [
        el("td", { className: "num", text: d.seq }),
        el("td", { className: "num", text: d.bar }),
        el("td", { className: "nowrap", text: fmt.ts(d.ts) }),
        el("td", null, [el("span", { className: "badge action action-" + d.action, text: String(d.action).replace(/_/g, " ") })]),
        el("td", { className: "nowrap", text: String(d.reason || "").replace(/_/g, " ") }),
        el("td", { className: "num", text: fmt.number(d.price, 2) }),
        el("td", { className: "num", text: fmt.number(d.quantity, 6) }),
        el("td", { className: "num", text: arrow(d.position_before, d.position_after, 6) }),
        el("td", { className: "num", text: arrow(d.equity_before, d.equity_after, 2) }),
        el("td", { className: "num", text: fmt.number(d.commission, 2) }),
        el("td", { className: "indicators", text: indicators(d.indicators) }),
      ]);
    }

    function load() {
      var mine = ++seq;
      var params = new URLSearchParams({ page: String(state.page), size: sizeSelect.value });
      if (actionSelect.value) params.set("action", actionSelect.value);
      info.textContent = "loading\u2026";
      prev.disabled = true;
      next.disabled = true;
      qr.request(api + "?" + params.toString()).then(function (result) {
        if (mine !== seq) return;
        errorLine.textContent = "";
        if (!result.ok) {
          var err = result.body || {};
          errorLine.textContent = (err.code ? err.code + ": " : "") + (err.title || "") + (err.detail ? " (" + err.detail + ")" : "");
          info.textContent = "";
          return;
        }
        var page = result.body;
        state.page = page.page;
        state.pages = page.pages;
        body.textContent = "";
        if (!page.items.length) {
          body.appendChild(el("tr", { className: "placeholder" }, [el("td", { colspan: 11, className: "muted", text: "No decision records" + (page.action ? " with action " + page.action : "") + "." })]));
        } else {
          page.items.forEach(function (d) {
            var tr = row(d);
            if (linkedSeq !== null && String(d.seq) === linkedSeq) tr.classList.add("linked");
            body.appendChild(tr);
          });
          var linked = body.querySelector("tr.linked");
          if (linked) linked.scrollIntoView({ block: "center" });
        }
        info.textContent = "Page " + page.page + " of " + page.pages + " \u00b7 " + fmt.count(page.total) + " record" + (page.total === 1 ? "" : "s");
        table.setAttribute("data-page", page.page);
        table.setAttribute("data-total", page.total);
        prev.disabled = page.page <= 1;
        next.disabled = page.page >= page.pages;
      });
    }

    actionSelect.addEventListener("change", function () { state.page = 1; load(); });
    sizeSelect.addEventListener("change", function () { state.page = 1; load(); });
    prev.addEventListener("click", function () { if (state.page > 1) { state.page -= 1; load(); } });
    next.addEventListener("click", function () { if (state.page < state.pages) { state.page += 1; load(); } });
    load();
  }

  function start() {
    decisions();
    drawCharts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
