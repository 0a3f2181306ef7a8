// A member's home page while their call for support is open: the moment a facilitator has seen it, the page says so
// (the push is a notification; a reload reads the same from the database).
(function () {
  "use strict";
  var call = document.getElementById("support-call");
  if (!call || call.dataset.open !== "true" || !window.MomentumLive) return;
  var socket = window.MomentumLive.open({});
  socket.on("support_seen", function (seen) {
    if (String(seen.alert_id) !== call.dataset.alertId || !seen.seen_by) return;
    var line = document.createElement("p");
    line.textContent = call.dataset.seen.replace("{name}", seen.seen_by);
    call.replaceChildren(line);
    call.className = "notice notice-ok";
    call.dataset.open = "false";
    socket.disconnect();
  });
})();

// The facilitator's home page: safety alerts and check-ins between sessions arrive live (a visual cue, never a
// sound) while the page is open. The database is the record: after a reconnect, and every minute in case a push was
// lost (Redis down, say), the page asks the server what is open now (live.js keeps the connection).
(function () {
  "use strict";
  var panel = document.getElementById("dashboard-alerts");
  if (!panel || !window.MomentumLive) return;
  var list = document.getElementById("alert-list");
  var none = document.getElementById("no-alerts");
  var between = document.getElementById("dashboard-checkins");
  var betweenList = document.getElementById("between-list");
  var noBetween = document.getElementById("no-between");
  var SYNC_EVERY = 60000;
  var socket = window.MomentumLive.open({ onResync: sync, every: SYNC_EVERY });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  // Alerts ---------------------------------------------------------------------------------------------------------
  function alertItem(alert) {
    var li = el("li", null, "alert-item alert-new");
    li.dataset.alertId = alert.id;
    var name = el("strong", alert.name);
    name.id = "dashboard-alert-" + alert.id + "-name";
    li.appendChild(name);
    var words = {need_support: panel.dataset.needSupport, peer_worry: panel.dataset.peerWorry,
                 peer_concern: panel.dataset.peerConcern, peer_risk: panel.dataset.peerRisk,
                 phq9_item9: panel.dataset.phq9Item9};
    li.appendChild(document.createTextNode(" " + (words[alert.kind] || panel.dataset.lowMood) + " "));
    var button = el("button", panel.dataset.acknowledge);
    button.type = "button";
    button.setAttribute("aria-describedby", name.id);
    button.addEventListener("click", function () {
      socket.timeout(10000).emit("acknowledge_alert", { alert_id: alert.id }, function (err, ack) {
        if (!err && ack && ack.ok) removeAlert(alert.id);
        else button.textContent = panel.dataset.error + " " + panel.dataset.acknowledge;
      });
    });
    li.appendChild(button);
    return li;
  }
  function removeAlert(id) {
    var existing = list.querySelector('[data-alert-id="' + id + '"]');
    if (!existing) return;
    var hadFocus = existing.contains(document.activeElement);
    existing.remove();
    if (hadFocus) focusHeading("alerts-heading");
    none.hidden = list.children.length > 0;
  }
  function mergeAlert(alert) {
    if (alert.acknowledged) { removeAlert(alert.id); return; }
    if (!list.querySelector('[data-alert-id="' + alert.id + '"]')) list.prepend(alertItem(alert));
    none.hidden = list.children.length > 0;
  }
  function focusHeading(id) {
    var heading = document.getElementById(id);
    if (!heading) return;
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  // Check-ins between sessions -------------------------------------------------------------------------------------
  function when(iso, live) {
    if (live) return between.dataset.justNow;
    return window.MomentumLive.timeText(iso);
  }
  function checkinItem(c, live) {
    var li = el("li");
    li.dataset.checkinId = c.id;
    li.appendChild(document.createTextNode(c.name + " · "));
    var time = el("time", when(c.created_at, live));
    time.setAttribute("datetime", c.created_at);
    li.appendChild(time);
    var what = c.passed ? between.dataset.passed : between.dataset.mood.replace("{mood}", String(c.mood));
    if (!c.passed && c.note) what += " · “" + c.note + "”";
    li.appendChild(document.createTextNode(": " + what));
    return li;
  }
  function mergeCheckin(c, live) {
    if (!betweenList || c.session_id !== null) return; // check-ins in a live session are the room's
    if (betweenList.querySelector('[data-checkin-id="' + c.id + '"]')) return; // a member of two of my groups
    betweenList.prepend(checkinItem(c, live));
    noBetween.hidden = true;
  }

  // The database is the record ---------------------------------------------------------------------------------------
  function sync() {
    if (!socket.connected) return;
    socket.timeout(10000).emit("sync_dashboard", {}, function (err, ack) {
      if (err || !ack || !ack.ok) return; // asked again at the next turn
      var open = {};
      ack.alerts.forEach(function (a) { open[a.id] = true; mergeAlert(a); });
      Array.prototype.forEach.call(list.querySelectorAll("[data-alert-id]"), function (item) {
        if (!open[item.dataset.alertId]) removeAlert(item.dataset.alertId);
      });
      ack.checkins.slice().reverse().forEach(function (c) { mergeCheckin(c, false); });
    });
  }

  socket.on("alert", mergeAlert);
  socket.on("checkin", function (c) { mergeCheckin(c, true); });
})();
