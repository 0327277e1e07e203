// tokenbooks console: the overview chart (Chart.js, from the JSON the page embeds) and small helpers.
// No inline script anywhere: the Content-Security-Policy allows scripts from this site only.
(function () {
  "use strict";
  var COLOURS = {
    "AI COGS": "#1f4e79", "R&D": "#4f8fc9", "Sales & Marketing": "#8fbbe3", "G&A": "#b9c7d6",
    "Suspense (unallocated)": "#d9822b", "Capitalized software": "#6b8e6b", "Expired credits": "#a05a5a",
    "Promotional credits": "#c9b458", "Other accounts": "#8a8f98", "Other": "#8a8f98"
  };

  function money(value, currency) {
    var n = Number(value);  // display only: the page's table shows the exact figures
    var text = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Math.abs(n));
    return (n < 0 ? "(" + text + ")" : text) + " " + currency;
  }

  function drawSpend() {
    var data = document.getElementById("spend-data");
    var canvas = document.getElementById("spend-chart");
    if (!data || !canvas || !window.Chart) { return; }
    var spend = JSON.parse(data.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: spend.months,
        datasets: spend.series.map(function (s) {
          return { label: s.name, data: s.values.map(Number), backgroundColor: COLOURS[s.name] || "#8a8f98", stack: "spend" };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, ticks: { callback: function (v) { return money(v, spend.currency); } } }
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money(c.raw, spend.currency); } } }
        }
      }
    });
  }

  // A confirm step on buttons that change the books (data-confirm="…"): keyboard and mouse alike.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", drawSpend);
})();
