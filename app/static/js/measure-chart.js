/* The measure and mood charts: each canvas.measure-chart names, in data-chart, the <script type="application/json">
   holding its data (built on the server). Severity bands are filled behind the scores by a small plugin; every colour
   comes from CSS custom properties, so the charts follow dark mode. Times are timestamps on a linear axis, labelled
   with Intl in the viewer's language and zone (data-locale, data-zone): no date adapter is needed. The text table
   beside each chart holds the same numbers. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }

  var DAY = 24 * 60 * 60 * 1000;

  function cssVar(element, name, fallback) {
    var value = getComputedStyle(element).getPropertyValue(name).trim();
    return value || fallback;
  }

  function colours(canvas) {
    return {
      text: cssVar(canvas, "--color-text", "#1c2230"),
      muted: cssVar(canvas, "--color-muted", "#4b5467"),
      grid: cssVar(canvas, "--color-border", "#d3d8df"),
      line: cssVar(canvas, "--chart-line", "#285a8c"),
      session: cssVar(canvas, "--chart-session", "#5a4a9c"),
      win: cssVar(canvas, "--chart-win", "#1a6a3d"),
      band: function (severity) {
        return cssVar(canvas, "--band-" + severity.replace(/_/g, "-"), "transparent");
      },
    };
  }

  // Fills each severity band's rectangle behind the datasets.
  var bandPlugin = {
    id: "severityBands",
    beforeDatasetsDraw: function (chart) {
      var bands = chart.options.plugins.severityBands && chart.options.plugins.severityBands.bands;
      if (!bands || !bands.length) {
        return;
      }
      var area = chart.chartArea;
      var y = chart.scales.y;
      var context = chart.ctx;
      var palette = colours(chart.canvas);
      context.save();
      bands.forEach(function (band, index) {
        // A band of totals low..high covers the axis from low to where the next band starts.
        var top = index + 1 < bands.length ? bands[index + 1].low : band.high;
        var yTop = y.getPixelForValue(top);
        var yBottom = y.getPixelForValue(band.low);
        context.fillStyle = palette.band(band.severity);
        context.fillRect(area.left, yTop, area.right - area.left, yBottom - yTop);
      });
      context.restore();
    },
  };

  function formatter(canvas, spanDays) {
    var locale = canvas.dataset.locale || document.documentElement.lang || "en";
    var zone = canvas.dataset.zone || undefined;
    var options = spanDays > 400 ? { month: "short", year: "numeric" } : { day: "numeric", month: "short" };
    options.timeZone = zone;
    try {
      return new Intl.DateTimeFormat(locale, options);
    } catch (error) {
      delete options.timeZone;
      return new Intl.DateTimeFormat(locale, options);
    }
  }

  function range(data) {
    var xs = (data.points || []).concat(data.sessions || [], data.wins || []).map(function (p) { return p.x; });
    var start = data.start !== undefined ? data.start : Math.min.apply(null, xs);
    var end = data.end !== undefined ? data.end : Math.max.apply(null, xs);
    if (!isFinite(start) || !isFinite(end)) {
      end = Date.now();
      start = end - 7 * DAY;
    }
    var pad = Math.max((end - start) * 0.04, 3 * DAY);
    return { min: start - pad, max: end + pad };
  }

  function datasets(data, palette) {
    if (data.kind === "score") {
      return [{
        label: data.label,
        data: data.points,
        showLine: data.points.length > 1,
        borderColor: palette.line,
        backgroundColor: palette.line,
        pointRadius: 4,
        pointHoverRadius: 6,
        borderWidth: 2,
      }];
    }
    return [
      {
        label: data.names.mood,
        data: data.points,
        showLine: data.points.length > 1,
        borderColor: palette.line,
        backgroundColor: palette.line,
        pointRadius: 3,
        borderWidth: 2,
      },
      {
        label: data.names.sessions,
        data: data.sessions.map(function (p) { return { x: p.x, y: data.max - 0.5, when: p.when, text: p.text }; }),
        pointStyle: "triangle",
        pointRadius: 6,
        borderColor: palette.session,
        backgroundColor: palette.session,
      },
      {
        label: data.names.wins,
        data: (data.wins || []).map(function (p) { return { x: p.x, y: 0.5, when: p.when, text: p.text }; }),
        pointStyle: "star",
        pointRadius: 7,
        borderWidth: 2,
        borderColor: palette.win,
        backgroundColor: palette.win,
      },
    ];
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return null;
    }
    var data = JSON.parse(source.textContent);
    var palette = colours(canvas);
    var span = range(data);
    var format = formatter(canvas, (span.max - span.min) / DAY);
    var sets = datasets(data, palette);
    if (data.kind === "mood" && !(data.wins || []).length) {
      sets.pop();
    }
    return new window.Chart(canvas, {
      type: "scatter",
      data: { datasets: sets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: {
            type: "linear",
            min: span.min,
            max: span.max,
            grid: { color: palette.grid },
            ticks: {
              color: palette.muted,
              maxTicksLimit: 6,
              maxRotation: 0,
              callback: function (value) { return format.format(new Date(value)); },
            },
          },
          y: {
            min: data.min,
            max: data.max,
            grid: { color: palette.grid },
            ticks: { color: palette.muted, stepSize: 2 },
            // A score chart marks where each band starts, and the top of the scale.
            afterBuildTicks: data.bands && data.bands.length ? function (axis) {
              axis.ticks = data.bands.map(function (band) { return { value: band.low }; })
                .concat([{ value: data.max }]);
            } : undefined,
            title: { display: true, text: data.label, color: palette.muted },
          },
        },
        plugins: {
          severityBands: { bands: data.bands || [] },
          legend: { display: data.kind === "mood", labels: { color: palette.text, usePointStyle: true } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? items[0].raw.when : ""; },
              label: function (item) {
                var raw = item.raw;
                if (raw.text) {
                  return item.dataset.label + ": " + raw.text;
                }
                return item.dataset.label + ": " + raw.y + (raw.band ? " (" + raw.band + ")" : "");
              },
            },
          },
        },
      },
      plugins: [bandPlugin],
    });
  }

  var charts = [];
  document.querySelectorAll("canvas.measure-chart[data-chart]").forEach(function (canvas) {
    var chart = draw(canvas);
    if (chart) {
      charts.push(chart);
    }
  });

  // Colours follow a change between light and dark mode without a reload.
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    var recolour = function () {
      charts = charts.map(function (chart) {
        var canvas = chart.canvas;
        chart.destroy();
        return draw(canvas);
      }).filter(Boolean);
    };
    if (scheme.addEventListener) {
      scheme.addEventListener("change", recolour);
    }
  }
})();
