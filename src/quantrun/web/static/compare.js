/* Comparison page: every run's equity (normalised to its start) and drawdown overlaid, one
 * colour per run as in the tables, on one shared time axis. The data is embedded in the page
 * (#compare-data), decimated on the server. */
(function () {
  "use strict";
  var qr = window.quantrun;
  if (!qr) return;
  var charts = qr.charts;

  function traces(data, key, hover) {
    return data.curves.map(function (curve, i) {
      var run = data.runs[i];
      return {
        type: "scatter",
        mode: "lines",
        name: run.label + " " + run.run_id.slice(0, 8),
        x: curve.ts,
        y: curve[key],
        line: { color: run.color, width: 1.5 },
        hovertemplate: run.label + " %{x}<br>" + hover + "<extra></extra>",
      };
    });
  }

  function draw() {
    var data = qr.readJSON("compare-data");
    var equityDiv = document.getElementById("equity-compare-chart");
    var drawdownDiv = document.getElementById("drawdown-compare-chart");
    if (!data || !equityDiv || !drawdownDiv) return;
    if (!window.Plotly) {
      equityDiv.appendChild(qr.el("p", { className: "note", text: "The chart library did not load (/static/vendor/plotly.min.js)." }));
      return;
    }
    var ends = [];
    data.curves.forEach(function (curve) {
      if (curve.ts.length) ends.push(curve.ts[0], curve.ts[curve.ts.length - 1]);
    });
    ends.sort();
    var range = ends.length ? { range: [ends[0], ends[ends.length - 1]] } : {};
    var drawn = [
      window.Plotly.newPlot(
        equityDiv,
        traces(data, "equity", "equity \u00d7%{y:.4f}"),
        charts.layout({ xaxis: range, yaxis: { title: { text: "equity / start" }, tickformat: ".3f" } }),
        charts.config
      ),
      window.Plotly.newPlot(
        drawdownDiv,
        traces(data, "drawdown", "drawdown %{y:.2%}"),
        charts.layout({ showlegend: false, margin: { t: 12 }, xaxis: range, yaxis: { title: { text: "drawdown" }, tickformat: ".1%" } }),
        charts.config
      ),
    ];
    Promise.all(drawn).then(function () {
      charts.linkXAxes([equityDiv, drawdownDiv], range.range);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
