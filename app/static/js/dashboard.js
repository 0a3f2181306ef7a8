// The facilitator's home page: safety alerts arrive live (a visual cue, never a sound) while the page is open.
(function () {
  "use strict";
  var panel = document.getElementById("dashboard-alerts");
  if (!panel || !window.io) return;
  var list = document.getElementById("alert-list");
  var none = document.getElementById("no-alerts");
  var socket = window.io({ transports: ["websocket", "polling"] });
  socket.on("alert", function (alert) {
    var existing = list.querySelector('[data-alert-id="' + alert.id + '"]');
    if (alert.acknowledged) { if (existing) existing.remove(); }
    else if (!existing) {
      var li = document.createElement("li");
      li.className = "alert-item alert-new";
      li.dataset.alertId = alert.id;
      li.textContent = alert.name + " — " + (alert.kind === "need_support" ? panel.dataset.needSupport : panel.dataset.lowMood);
      var link = document.createElement("a");
      link.href = window.location.pathname;
      link.textContent = " " + panel.dataset.reload;
      li.appendChild(link);
      list.prepend(li);
    }
    none.hidden = list.children.length > 0;
  });
  var connectedOnce = false;
  socket.on("connect", function () {
    // The database is the record: after a lost connection, reload so nothing pushed meanwhile is missed.
    if (connectedOnce) window.location.reload();
    connectedOnce = true;
  });
})();
