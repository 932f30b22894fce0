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
