// StoreDesk charts: a small charting library of our own (no third-party code, nothing from a CDN).
//
// Bar charts as inline SVG: horizontal or vertical, one series, several side by side (grouped) or
// on one another (stacked), with a value axis, gridlines, category and value labels, a legend and
// an accessible <title> on the chart and on every bar. The figures come from a JSON data island in
// the page:
//
//   <figure class="chart" data-chart="ID"><script type="application/json" id="ID">SPEC</script></figure>
//
//   SPEC = {"title": "...", "orientation": "horizontal" | "vertical", "layout": "grouped" | "stacked",
//           "unit": "minutes", "categories": ["SH001", ...],
//           "series": [{"name": "Tickets", "values": [4, null, ...]}, ...]}
//
// A null value draws no bar. The table under each chart carries the same figures and is the source
// of truth. StoreDeskCharts.renderAll() runs on DOMContentLoaded; StoreDeskCharts.draw(spec)
// returns an <svg> element.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#233b5d", "#e0a100", "#2e7d32", "#c62828", "#6a4c93", "#1982c4", "#8a5a00", "#5f6b7a"];
  var FONT = 12;
  var uid = 0;

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, key)) { node.setAttribute(key, String(attrs[key])); }
    }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function titled(node, text) {
    node.appendChild(el("title", {}, text));
    return node;
  }

  // A figure as text: integers as they are, others with at most two decimals.
  function fmt(value) {
    if (value === null || value === undefined) { return "—"; }
    if (Math.round(value) === value) { return String(value); }
    return String(Math.round(value * 100) / 100);
  }

  // Rough text width (CJK characters are about twice as wide as Latin ones).
  function textWidth(text) {
    var width = 0;
    for (var i = 0; i < text.length; i++) { width += text.charCodeAt(i) > 0x2e80 ? FONT : FONT * 0.6; }
    return width;
  }

  function clip(text, width) {
    if (textWidth(text) <= width) { return text; }
    var out = "";
    for (var i = 0; i < text.length; i++) {
      if (textWidth(out + text[i] + "…") > width) { break; }
      out += text[i];
    }
    return out + "…";
  }

  // A round axis maximum (1, 2 or 5 times a power of ten) and its tick step.
  function scale(max) {
    if (!(max > 0)) { return { max: 1, step: 0.25 }; }
    var power = Math.pow(10, Math.floor(Math.log(max) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var step = steps[i] * power / 5;
      if (step * 5 >= max) { return { max: step * 5, step: step }; }
    }
    return { max: 10 * power, step: 2 * power };
  }

  function largest(spec) {
    var max = 0;
    for (var c = 0; c < spec.categories.length; c++) {
      var sum = 0;
      for (var s = 0; s < spec.series.length; s++) {
        var v = spec.series[s].values[c];
        if (typeof v !== "number") { continue; }
        if (spec.layout === "stacked") { sum += v; } else { max = Math.max(max, v); }
      }
      max = Math.max(max, sum);
    }
    return max;
  }

  function legend(svg, spec, x, y) {
    if (spec.series.length < 2) { return 0; }
    var group = el("g", { "class": "legend" });
    var left = x;
    var top = y;
    for (var s = 0; s < spec.series.length; s++) {
      var name = spec.series[s].name;
      var width = 18 + textWidth(name) + 14;
      if (left + width > x + 680 && left > x) { left = x; top += 18; }
      group.appendChild(el("rect", { x: left, y: top, width: 12, height: 12, fill: PALETTE[s % PALETTE.length] }));
      group.appendChild(el("text", { x: left + 16, y: top + 10, "font-size": FONT }, name));
      left += width;
    }
    svg.appendChild(group);
    return top - y + 22;
  }

  function bar(x, y, w, h, colour, label) {
    return titled(el("rect", { "class": "bar", x: x, y: y, width: Math.max(w, 0), height: Math.max(h, 0), fill: colour }), label);
  }

  function horizontal(svg, spec, top) {
    var stacked = spec.layout === "stacked";
    var n = spec.series.length;
    var labelWidth = 40;
    spec.categories.forEach(function (c) { labelWidth = Math.max(labelWidth, Math.min(textWidth(c), 220)); });
    var left = labelWidth + 12;
    var plot = 720 - left - 60;
    var barH = stacked || n === 1 ? 18 : 12;
    var rowH = (stacked ? barH : barH * n) + 10;
    var axis = scale(largest(spec));
    var height = spec.categories.length * rowH;
    var grid = el("g", { "class": "grid" });
    for (var tick = 0; tick <= axis.max + axis.step / 2; tick += axis.step) {
      var gx = left + plot * tick / axis.max;
      grid.appendChild(el("line", { x1: gx, x2: gx, y1: top, y2: top + height, stroke: "#e4e7ec" }));
      grid.appendChild(el("text", { x: gx, y: top + height + 14, "font-size": 11, "text-anchor": "middle", fill: "#667085" }, fmt(tick)));
    }
    svg.appendChild(grid);
    svg.appendChild(el("text", { "class": "axis-label", x: left + plot, y: top + height + 30, "font-size": 11, "text-anchor": "end", fill: "#667085" }, spec.unit || ""));
    svg.appendChild(el("line", { x1: left, x2: left, y1: top, y2: top + height, stroke: "#98a2b3" }));
    spec.categories.forEach(function (category, c) {
      var y = top + c * rowH + 5;
      var row = el("g", { "class": "category" });
      row.appendChild(titled(el("text", { x: left - 6, y: y + (rowH - 10) / 2 + 4, "font-size": FONT, "text-anchor": "end" }, clip(category, labelWidth)), category));
      var x = left;
      var total = 0;
      spec.series.forEach(function (series, s) {
        var v = series.values[c];
        if (typeof v !== "number") { return; }
        var w = plot * v / axis.max;
        var label = category + " · " + series.name + ": " + fmt(v);
        var colour = PALETTE[s % PALETTE.length];
        if (stacked) {
          row.appendChild(bar(x, y, w, barH, colour, label));
          if (w > textWidth(fmt(v)) + 6 && v > 0) {
            row.appendChild(el("text", { "class": "value inside", x: x + w / 2, y: y + barH / 2 + 4, "font-size": 11, "text-anchor": "middle", fill: "#fff" }, fmt(v)));
          }
          x += w;
          total += v;
        } else {
          var by = y + (n === 1 ? 0 : s * barH);
          row.appendChild(bar(left, by, w, barH - 1, colour, label));
          row.appendChild(el("text", { "class": "value", x: left + w + 4, y: by + barH / 2 + 3, "font-size": 11 }, fmt(v)));
        }
      });
      if (stacked) {
        row.appendChild(el("text", { "class": "value total", x: x + 4, y: y + barH / 2 + 4, "font-size": 11, "font-weight": 600 }, fmt(total)));
      }
      svg.appendChild(row);
    });
    return top + height + 36;
  }

  function vertical(svg, spec, top) {
    var stacked = spec.layout === "stacked";
    var n = spec.series.length;
    var left = 48;
    var plot = 720 - left - 10;
    var height = 200;
    var slot = plot / Math.max(spec.categories.length, 1);
    var barW = Math.min(stacked || n === 1 ? slot * 0.6 : slot * 0.8 / n, 48);
    var axis = scale(largest(spec));
    var grid = el("g", { "class": "grid" });
    for (var tick = 0; tick <= axis.max + axis.step / 2; tick += axis.step) {
      var gy = top + height - height * tick / axis.max;
      grid.appendChild(el("line", { x1: left, x2: left + plot, y1: gy, y2: gy, stroke: "#e4e7ec" }));
      grid.appendChild(el("text", { x: left - 6, y: gy + 4, "font-size": 11, "text-anchor": "end", fill: "#667085" }, fmt(tick)));
    }
    svg.appendChild(grid);
    svg.appendChild(el("text", { "class": "axis-label", x: 4, y: top - 6, "font-size": 11, fill: "#667085" }, spec.unit || ""));
    svg.appendChild(el("line", { x1: left, x2: left + plot, y1: top + height, y2: top + height, stroke: "#98a2b3" }));
    spec.categories.forEach(function (category, c) {
      var row = el("g", { "class": "category" });
      var centre = left + slot * c + slot / 2;
      var groupW = stacked || n === 1 ? barW : barW * n;
      var base = top + height;
      spec.series.forEach(function (series, s) {
        var v = series.values[c];
        if (typeof v !== "number") { return; }
        var h = height * v / axis.max;
        var label = category + " · " + series.name + ": " + fmt(v);
        var colour = PALETTE[s % PALETTE.length];
        if (stacked) {
          row.appendChild(bar(centre - barW / 2, base - h, barW, h, colour, label));
          base -= h;
        } else {
          var x = centre - groupW / 2 + (n === 1 ? 0 : s * barW);
          row.appendChild(bar(x, top + height - h, barW - 1, h, colour, label));
          row.appendChild(el("text", { "class": "value", x: x + barW / 2, y: top + height - h - 4, "font-size": 11, "text-anchor": "middle" }, fmt(v)));
        }
      });
      row.appendChild(titled(el("text", { x: centre, y: top + height + 16, "font-size": FONT, "text-anchor": "middle" }, clip(category, slot - 4)), category));
      svg.appendChild(row);
    });
    return top + height + 28;
  }

  function draw(spec) {
    var id = "sdchart-" + (++uid);
    var svg = el("svg", { xmlns: NS, "class": "sd-chart", role: "img", "aria-labelledby": id + "-title", width: "100%" });
    svg.appendChild(el("title", { id: id + "-title" }, spec.title || ""));
    var top = 4 + legend(svg, spec, 4, 4) + 8;
    var bottom = spec.orientation === "vertical" ? vertical(svg, spec, top + 12) : horizontal(svg, spec, top);
    svg.setAttribute("viewBox", "0 0 720 " + Math.ceil(bottom));
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    svg.style.maxWidth = "720px";
    return svg;
  }

  function renderAll(root) {
    var figures = (root || document).querySelectorAll("figure.chart[data-chart]");
    for (var i = 0; i < figures.length; i++) {
      var figure = figures[i];
      if (figure.querySelector("svg")) { continue; }
      var island = document.getElementById(figure.getAttribute("data-chart"));
      if (!island) { continue; }
      try {
        figure.appendChild(draw(JSON.parse(island.textContent)));
      } catch (err) {
        figure.appendChild(document.createTextNode(String(err)));
      }
    }
  }

  window.StoreDeskCharts = { draw: draw, renderAll: renderAll, scale: scale };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  } else {
    renderAll();
  }
})();
