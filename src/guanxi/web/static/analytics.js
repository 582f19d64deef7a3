/* Guanxi analytics: draws each <canvas data-chart="key"> with Chart.js from the JSON block
   #analytics-data (written by the server). No inline script; every chart also has a data table. */
(function () {
  "use strict";

  function formatters(lang, currency) {
    var count = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
    var percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 });
    var percentFine = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
    var money = new Intl.NumberFormat(lang, {
      style: "currency", currency: currency, maximumFractionDigits: 0
    });
    return {
      count: { tick: function (v) { return count.format(v); }, value: function (v) { return count.format(v); } },
      percent: { tick: function (v) { return percent.format(v); }, value: function (v) { return percentFine.format(v); } },
      money: { tick: function (v) { return money.format(v); }, value: function (v) { return money.format(v); } }
    };
  }

  function config(spec, fmt) {
    var valueFmt = fmt[spec.axis] || fmt.count;
    var xFmt = spec.xAxis ? fmt[spec.xAxis] : null;
    var horizontal = !!spec.horizontal;
    var valueAxis = horizontal ? "x" : "y";
    var scales = {};
    scales[valueAxis] = {
      beginAtZero: true,
      stacked: !!spec.stacked,
      ticks: { callback: function (v) { return valueFmt.tick(v); } }
    };
    var categoryAxis = horizontal ? "y" : "x";
    scales[categoryAxis] = { stacked: !!spec.stacked };
    if (xFmt) {
      scales.x = { type: "linear", min: 0, max: 1, ticks: { callback: function (v) { return xFmt.tick(v); } } };
      scales.y.min = 0;
      scales.y.max = 1;
    }
    return {
      type: spec.type,
      data: spec.data,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        scales: scales,
        interaction: xFmt ? { mode: "nearest", intersect: false } : { mode: "index", intersect: false },
        plugins: {
          legend: { display: spec.legend !== false, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var raw = ctx.raw;
                var v = raw !== null && typeof raw === "object" ? raw.y : raw;
                if (spec.stacked && v < 0) { v = -v; }  // lapsed customers are drawn below zero
                var text = valueFmt.value(v);
                if (xFmt && raw && typeof raw === "object") { text = xFmt.value(raw.x) + " → " + text; }
                return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + text;
              }
            }
          }
        }
      }
    };
  }

  function draw() {
    var source = document.getElementById("analytics-data");
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent || "null");
    if (!data || !data.charts) { return; }
    var fmt = formatters(data.lang || document.documentElement.lang || "zh-CN", data.currency || "CNY");
    var Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1f2328";
    if (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
      Chart.defaults.animation = false;
    }
    var canvases = document.querySelectorAll("canvas[data-chart]");
    Array.prototype.forEach.call(canvases, function (canvas) {
      var spec = data.charts[canvas.getAttribute("data-chart")];
      if (!spec) { return; }
      try {
        new Chart(canvas, config(spec, fmt));
        canvas.setAttribute("data-drawn", "true");
      } catch (error) {
        canvas.setAttribute("data-drawn", "failed");
        if (window.console) { window.console.error("chart " + canvas.getAttribute("data-chart"), error); }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
