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

// ---- Tickets (store_node/ui/tickets.py): the new-ticket form's product type-ahead (keyboard:
// arrows, Enter, Escape), similar open tickets under the title, the customer's earlier tickets by
// phone. Each part starts only when its field is on the page.
(function () {
  "use strict";
  function debounce(fn, ms) {
    var timer;
    return function () { window.clearTimeout(timer); timer = window.setTimeout(fn, ms); };
  }
  function getJson(url) {
    return fetch(url, { cache: "no-store", headers: { "Accept-Language": document.documentElement.lang } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }
  function showTickets(box, items, noneText) {
    var heading = box.querySelector("p"), list = box.querySelector("ul");
    if (!box.dataset.heading) { box.dataset.heading = heading.textContent; }
    heading.textContent = items.length || !noneText ? box.dataset.heading : noneText;
    list.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = item.href; a.target = "_blank"; a.rel = "noopener"; a.textContent = item.number;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" " + item.title + " · " + item.status_label + " · " + item.created));
      list.appendChild(li);
    });
    box.hidden = !items.length && !noneText;
  }

  var title = document.querySelector("[data-similar]");
  if (title) {
    var similarBox = document.getElementById(title.dataset.similar), lastQ = null;
    var lookSimilar = debounce(function () {
      var q = title.value.trim();
      if (q === lastQ) { return; }
      lastQ = q;
      if (q.length < 2) { similarBox.hidden = true; return; }
      getJson("/ui/tickets/similar?q=" + encodeURIComponent(q)).then(function (found) {
        if (found && q === title.value.trim()) { showTickets(similarBox, found.items, ""); }
      });
    }, 350);
    title.addEventListener("input", lookSimilar);
    lookSimilar();
  }

  var phone = document.querySelector("[data-customer]");
  if (phone) {
    var customerBox = document.getElementById(phone.dataset.customer);
    var nameField = document.getElementById(phone.dataset.name);
    var lookCustomer = debounce(function () {
      var value = phone.value;
      if (value.replace(/\D/g, "").length < 7) { customerBox.hidden = true; return; }
      getJson("/ui/tickets/by-phone?phone=" + encodeURIComponent(value)).then(function (found) {
        if (!found || value !== phone.value) { return; }
        showTickets(customerBox, found.items, customerBox.dataset.none);
        if (nameField && !nameField.value && found.customer_name) { nameField.value = found.customer_name; }
      });
    }, 400);
    phone.addEventListener("input", lookCustomer);
    lookCustomer();
  }

  var product = document.querySelector("[data-products]");
  if (product) {
    var listbox = document.getElementById(product.dataset.products);
    var category = document.getElementById(product.dataset.category);
    var nameHint = document.getElementById(product.dataset.productName);
    var options = [], active = -1;
    var close = function () {
      listbox.hidden = true; active = -1;
      product.setAttribute("aria-expanded", "false"); product.removeAttribute("aria-activedescendant");
    };
    var mark = function (index) {
      active = index;
      options.forEach(function (o, i) { o.li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (index < 0) { product.removeAttribute("aria-activedescendant"); return; }
      product.setAttribute("aria-activedescendant", options[index].li.id);
      options[index].li.scrollIntoView({ block: "nearest" });
    };
    var take = function (index) {
      var p = options[index].item;
      product.value = p.code;
      if (category && !category.value && p.category) { category.value = p.category; }
      if (nameHint) { nameHint.textContent = p.name + (p.price ? " · ¥" + p.price : ""); }
      close();
    };
    var search = debounce(function () {
      var q = product.value.trim();
      if (!q) { close(); return; }
      getJson("/api/v1/products?limit=8&q=" + encodeURIComponent(q)).then(function (found) {
        if (!found || q !== product.value.trim()) { return; }
        listbox.textContent = ""; options = [];
        found.items.forEach(function (p, i) {
          var li = document.createElement("li");
          li.id = listbox.id + "-" + i; li.setAttribute("role", "option"); li.setAttribute("aria-selected", "false");
          li.textContent = p.code + " · " + p.name;
          li.addEventListener("mousedown", function (event) { event.preventDefault(); take(i); });
          listbox.appendChild(li); options.push({ li: li, item: p });
        });
        if (!options.length) { close(); return; }
        listbox.hidden = false; product.setAttribute("aria-expanded", "true"); mark(-1);
      });
    }, 200);
    product.addEventListener("input", search);
    product.addEventListener("blur", close);
    product.addEventListener("keydown", function (event) {
      if (event.isComposing || event.keyCode === 229) { return; }  // an IME is composing Chinese
      if (listbox.hidden) { if (event.key === "ArrowDown") { event.preventDefault(); search(); } return; }
      if (event.key === "ArrowDown") { event.preventDefault(); mark((active + 1) % options.length); }
      else if (event.key === "ArrowUp") { event.preventDefault(); mark(active <= 0 ? options.length - 1 : active - 1); }
      else if (event.key === "Enter") { event.preventDefault(); take(active < 0 ? 0 : active); }
      else if (event.key === "Escape") { event.preventDefault(); close(); }
    });
  }
})();
