// StoreDesk HQ console: shared helpers for the screens (plain JS, no library).
// StoreDesk.csrf(): the session's CSRF token for fetch() calls that change something.
// StoreDesk.every(ms, fn): run fn now and then every ms while the page is visible (live updates).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  window.StoreDesk = {
    csrf: function () { return meta ? meta.content : ""; },
    every: function (ms, fn) {
      function tick() {
        if (!document.hidden) { fn(); }
        window.setTimeout(tick, ms);
      }
      tick();
    }
  };
})();

// -- queue, board and ticket page (console/queue.py, ticket_page.py) --
// SLA countdowns (.tag.sla[data-due]) count down every 30 s against HQ's clock; every 5 s the page
// asks what changed since its change-log position and updates rows, cards and the timeline in
// place, or says "N changed - reload" for what it cannot place.
(function () {
  "use strict";
  function start() {
    var live = document.getElementById("q-live");
    if (!live || !window.StoreDesk) { return; }
    var d = live.dataset;
    var offset = Number(d.now) - Date.now();
    var units = (d.units || "d,h,m, ").split(",");
    var since = d.since;
    var lang = document.documentElement.lang === "en" ? "&lang=en" : "";
    var unseen = {};
    function span(ms) {
      var minutes = Math.floor(Math.abs(ms) / 60000);
      var parts = [[Math.floor(minutes / 1440), units[0]], [Math.floor(minutes % 1440 / 60), units[1]], [minutes % 60, units[2]]]
        .filter(function (p) { return p[0] > 0; }).slice(0, 2)
        .map(function (p) { return p[0] + p[1]; });
      return (parts.length ? parts : ["0" + units[2]]).join(units[3] || "");
    }
    function paint(tag) {
      var due = Number(tag.dataset.due);
      if (!tag.dataset.due || !due) { return; }
      var left = due - (Date.now() + offset);
      tag.textContent = (left < 0 ? d.over : d.left).replace("{span}", span(left));
      tag.classList.toggle("overdue", left < 0);
      tag.classList.toggle("soon", left >= 0 && left < 3600000);
      tag.classList.toggle("ok", left >= 3600000);
    }
    function tick() { document.querySelectorAll(".tag.sla").forEach(paint); }
    function flash(el) { el.classList.add("q-flash"); window.setTimeout(function () { el.classList.remove("q-flash"); }, 4000); }
    function setSla(el, item) {
      var tag = el.querySelector(".tag.sla");
      if (!tag) { return; }
      tag.dataset.due = item.due || "";
      tag.className = "tag sla " + (item.sla_class || "");
      tag.textContent = item.sla;
    }
    function banner() {
      var n = Object.keys(unseen).length;
      var box = document.getElementById("q-changed");
      if (!box || !n) { return; }
      box.querySelector("span").textContent = d.changed.replace("{n}", n);
      box.querySelector("a").href = window.location.href;
      box.hidden = false;
    }
    function badge(count) {
      document.querySelectorAll("[data-unread], #q-unread").forEach(function (b) {
        b.textContent = count;
        b.hidden = !count;
      });
    }
    function place(item) {
      var el = document.querySelector('[data-ticket="' + item.id + '"]:not(#q-live)');
      if (!el) { unseen[item.id] = true; return; }
      if (d.screen === "board") {
        if (el.dataset.status !== item.status) { unseen[item.id] = true; return; }
      } else {
        var status = el.querySelector('[data-field="status"] .tag');
        var assignee = el.querySelector('[data-field="assignee"]');
        if (status) { status.textContent = item.status_label; }
        if (assignee && item.assignee) { assignee.textContent = item.assignee; }
      }
      setSla(el, item);
      flash(el);
    }
    function poll() {
      fetch("/console/queue/changes?since=" + encodeURIComponent(since) + lang, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) { return; }
          since = body.since;
          badge(body.unread);
          if (d.screen !== "ticket") { body.changed.forEach(place); banner(); }
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
      if (d.screen === "ticket" && d.ticket) {
        fetch("/console/tickets/" + encodeURIComponent(d.ticket) + "/timeline?" + lang.slice(1), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body) { return; }
            if (String(body.size) !== d.size || body.status !== d.status) {
              var timeline = document.getElementById("q-timeline");
              if (timeline) { timeline.innerHTML = body.html; flash(timeline); }
              var status = document.getElementById("q-status");
              if (status) { status.textContent = body.status_label; }
              var assignee = document.getElementById("q-assignee");
              if (assignee && body.assignee) { assignee.textContent = body.assignee; }
              d.size = String(body.size);
              d.status = body.status;
            }
          })
          .catch(function () { /* try again on the next poll */ });
      }
    }
    window.StoreDesk.every(30000, tick);
    window.setTimeout(function () { window.StoreDesk.every(5000, poll); }, 5000);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
