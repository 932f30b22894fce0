// StoreDesk clerk UI: the live sync state in the header (badge, pending count, age of the last
// sync, the drain progress bar) and keyboard shortcuts (Alt+1..6 for the menu). No library.
(function () {
  "use strict";
  var root = document.documentElement;
  var texts = root.dataset;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return key in values ? values[key] : ""; });
  }

  function ageText(seconds) {
    if (seconds === null || seconds === undefined) { return texts.neverSynced; }
    var n = Math.max(0, Math.floor(seconds));
    if (n < 60) { return fill(texts.ageSeconds, { n: n }); }
    if (n < 3600) { return fill(texts.ageMinutes, { n: Math.floor(n / 60) }); }
    if (n < 86400) { return fill(texts.ageHours, { n: Math.floor(n / 3600) }); }
    return fill(texts.ageDays, { n: Math.floor(n / 86400) });
  }

  function show(status) {
    var badge = document.getElementById("sync-badge");
    if (badge) {
      badge.className = "badge " + (status.online ? "online" : "offline");
      badge.textContent = status.online ? texts.online : texts.offline;
      badge.dataset.state = status.online ? "online" : "offline";
    }
    var pending = document.getElementById("sync-pending");
    if (pending) { pending.textContent = fill(texts.pendingOps, { count: status.pending_ops }); }
    var age = document.getElementById("sync-age");
    if (age) { age.textContent = fill(texts.lastSync, { age: ageText(status.last_sync_age_s) }); }
    var bar = document.getElementById("drain");
    if (bar) {
      var total = status.drain.total, sent = status.drain.sent;
      bar.hidden = total === 0;
      var fillBar = bar.querySelector(".progress > div");
      if (fillBar) { fillBar.style.width = (total ? Math.round(100 * sent / total) : 100) + "%"; }
      var label = bar.querySelector(".drain-label");
      if (label) { label.textContent = fill(texts.draining, { count: status.pending_ops }); }
    }
  }

  function poll() {
    fetch("/api/v1/sync/status", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (status) { if (status) { show(status); } })
      .catch(function () { /* the node itself is stopping; the next poll tells */ })
      .then(function () { window.setTimeout(poll, 2000); });
  }

  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    var link = document.querySelector('nav.main a[data-key="' + event.key + '"]');
    if (link) { event.preventDefault(); window.location.href = link.href; }
  });

  if (document.getElementById("sync-badge")) { window.setTimeout(poll, 2000); }
})();
