/* Sweep page: the heatmap of a metric over two parameters and the line along one (plotly.js,
 * served locally), drawn from the data embedded in the page (#sweep-data). A click on a square
 * or on a table row's button asks for that cell's run (POST .../cells/{k}/run) and follows the
 * answer's url: the run when it is written, else the job that writes it (whose page then opens
 * the run). Ticking rows to compare them is compare_select.js's. */
(function () {
  "use strict";
  var qr = window.quantrun;
  if (!qr) return;
  var charts = qr.charts;
  var data = qr.readJSON("sweep-data");
  if (!data) return;
  var status = document.getElementById("sweep-status");

  function say(text) {
    if (status) status.textContent = text;
  }

  function labels(values) {
    return values.map(function (v) { return String(v); });
  }

  function openCell(cell) {
    if (cell === null || cell === undefined) return;
    say("Opening cell " + cell + "\u2026");
    var url = data.materialize.replace("{cell}", encodeURIComponent(String(cell)));
    qr.request(url, { method: "POST" }).then(function (result) {
      if (result.ok && result.body && result.body.url) {
        window.location.assign(result.body.url);
        return;
      }
      say("");
      var box = document.getElementById("sweep-error");
      if (box) box.remove();
      var err = qr.errorBox(result.body || {}, "sweep-error");
      if (status) status.parentNode.insertBefore(err, status.nextSibling);
    });
  }

  function hoverValue() {
    return data.unit === "fraction" ? "%{z:.2%}" : data.unit === "count" ? "%{z:d}" : "%{z:.4f}";
  }

  function drawHeatmap(div) {
    var h = data.heatmap;
    var trace = {
      type: "heatmap",
      x: labels(h.x_values),
      y: labels(h.y_values),
      z: h.z,
      customdata: h.cells,
      colorscale: data.choice.lower_is_better ? "RdBu" : "RdBu_r",
      hoverongaps: false,
      hovertemplate: h.x + "=%{x}<br>" + h.y + "=%{y}<br>" + h.metric + " " + hoverValue() +
        "<br>cell %{customdata}<extra></extra>",
      colorbar: { title: { text: h.metric } },
    };
    var layout = charts.layout({
      showlegend: false,
      hovermode: "closest",
      margin: { l: 80, r: 20, t: 20, b: 50 },
      xaxis: { type: "category", title: { text: h.x } },
      yaxis: { type: "category", title: { text: h.y } },
    });
    return window.Plotly.newPlot(div, [trace], layout, charts.config).then(function () {
      div.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        if (!point) return;
        var row = h.y_values.map(String).indexOf(String(point.y));
        var col = h.x_values.map(String).indexOf(String(point.x));
        if (row < 0 || col < 0) return;
        openCell(h.cells[row][col]);
      });
      div.setAttribute("data-drawn", "true");
    });
  }

  function drawLine(div) {
    var l = data.line;
    var trace = {
      type: "scatter",
      mode: "lines+markers",
      x: labels(l.x_values),
      y: l.z[0],
      customdata: l.cells[0],
      line: { color: "#2457c5", width: 1.5 },
      hovertemplate: l.x + "=%{x}<br>" + l.metric + " " + hoverValue().replace(/z/g, "y") +
        "<br>cell %{customdata}<extra></extra>",
    };
    var layout = charts.layout({
      showlegend: false,
      hovermode: "closest",
      margin: { l: 80, r: 20, t: 20, b: 50 },
      xaxis: { type: "category", title: { text: l.x } },
      yaxis: { title: { text: l.metric + " (" + l.agg + ")" } },
    });
    return window.Plotly.newPlot(div, [trace], layout, charts.config).then(function () {
      div.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        if (point) openCell(l.cells[0][point.pointIndex]);
      });
      div.setAttribute("data-drawn", "true");
    });
  }

  function draw() {
    var heat = document.getElementById("sweep-heatmap");
    var line = document.getElementById("sweep-line");
    if (!window.Plotly) {
      say("The chart library did not load (/static/vendor/plotly.min.js).");
      return;
    }
    if (heat && data.heatmap) drawHeatmap(heat);
    if (line && data.line) drawLine(line);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.open-cell") : null;
    if (!button) return;
    event.preventDefault();
    button.disabled = true;
    openCell(Number(button.getAttribute("data-cell")));
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
