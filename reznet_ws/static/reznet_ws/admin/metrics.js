// The WebSocket metrics page: refresh the figures in place, confirm before a reset.
// No build step, no dependencies; the page works without it (minus auto-refresh).
(function () {
  "use strict";

  function confirmReset() {
    var form = document.querySelector("form.reznet-ws-reset");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  }

  function autoRefresh() {
    var root = document.getElementById("reznet-ws-metrics");
    if (!root || !window.fetch) return;
    var url = root.getAttribute("data-panel-url");
    var every = Math.max(1, Number(root.getAttribute("data-refresh")) || 5) * 1000;
    var timer = null;
    var busy = false;

    function schedule() {
      timer = window.setTimeout(refresh, every);
    }

    function refresh() {
      timer = null;
      if (document.hidden) return; // resumed by visibilitychange
      busy = true;
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          // A redirect means the session ended (admin login page): stop polling.
          if (response.redirected) return null;
          return response.ok ? response.text() : "";
        })
        .then(function (html) {
          busy = false;
          if (html === null) return;
          if (html) root.innerHTML = html;
          schedule();
        })
        .catch(function () {
          busy = false;
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null && !busy) refresh();
    });
    schedule();
  }

  function start() {
    confirmReset();
    autoRefresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
