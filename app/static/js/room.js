// The live check-in room. The database is the record: on every (re)connect the client joins and re-syncs the whole
// state from the server, and check-ins not yet acknowledged are kept in localStorage and re-sent with the same
// client_id until the server says it has them (it stores each id once).
(function () {
  "use strict";
  var root = document.getElementById("live-room");
  if (!root || !window.io) return;
  var sessionId = parseInt(root.dataset.sessionId, 10);
  var isFacilitator = root.dataset.facilitator === "true";
  var texts = JSON.parse(document.getElementById("room-texts").textContent);
  var pendingKey = "momentum:pending-checkins:" + sessionId;
  var state = null;
  var sending = {};
  var socket = window.io({ transports: ["websocket", "polling"] });

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  // Live regions are announced on every write: write only what has changed.
  function setText(node, text) { if (node && node.textContent !== text) node.textContent = text; }
  function status(text) { setText($("room-status"), text); }
  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  // Pending check-ins survive reloads and lost connections.
  function pending() {
    try { return JSON.parse(window.localStorage.getItem(pendingKey) || "[]"); } catch (e) { return []; }
  }
  function savePending(list) { window.localStorage.setItem(pendingKey, JSON.stringify(list)); }
  function forget(clientId) {
    savePending(pending().filter(function (item) { return item.client_id !== clientId; }));
    delete sending[clientId];
  }
  function send(item) {
    if (!socket.connected || sending[item.client_id]) return;
    sending[item.client_id] = true;
    socket.timeout(10000).emit("checkin", item, function (err, ack) {
      delete sending[item.client_id];
      if (err || !ack) return; // no answer: it stays pending and is sent again
      if (ack.ok) {
        forget(item.client_id);
        showOwn(ack.checkin);
        if (ack.support) showSupport();
      } else if (ack.error === "unauthorized" || ack.error === "server_error") {
        return; // try again later
      } else {
        forget(item.client_id);
        status(ack.message || texts.error);
      }
    });
  }
  function flush() { pending().forEach(send); }
  function submit(fields) {
    var item = { session_id: sessionId, client_id: newClientId(), passed: false, mood: null, energy: null, note: "" };
    Object.keys(fields).forEach(function (k) { item[k] = fields[k]; });
    var list = pending(); list.push(item); savePending(list);
    var own = $("own-checkin"); if (own) own.textContent = texts.pending;
    send(item);
  }

  function describe(c) {
    if (!c.checked_in) return "";
    if (c.passed) return texts.passed;
    if (c.mood === undefined) return texts.checked_in;
    var parts = [texts.mood + " " + c.mood + "/10"];
    if (c.energy) parts.push(texts.energy + ": " + (texts[c.energy] || c.energy));
    if (c.note) parts.push("“" + c.note + "”");
    return parts.join(" · ");
  }
  function showOwn(c) { setText($("own-checkin"), texts.saved + " " + describe(c)); }
  function showSupport() {
    var box = $("support-confirmation");
    if (box) { box.hidden = false; box.focus(); }
  }

  // Lists are updated in place, item by item (keyed): an unchanged item keeps its node, so a button keeps the
  // keyboard focus when something else in the room changes, and a live list announces only what is new.
  function renderList(id, items, render, keyOf) {
    var list = $(id); if (!list) return;
    var focused = list.contains(document.activeElement) ? document.activeElement : null;
    var old = {};
    Array.prototype.forEach.call(list.children, function (child) { old[child.dataset.key] = child; });
    var kept = [];
    var nodes = items.map(function (item) {
      var node = render(item);
      node.dataset.key = String(keyOf(item));
      node.dataset.look = node.className + "|" + (node.getAttribute("aria-current") || "") + "|" + node.textContent;
      var previous = old[node.dataset.key];
      if (previous && previous.dataset.look === node.dataset.look) { kept.push(previous); return previous; }
      return node;
    });
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (kept.indexOf(child) < 0) list.removeChild(child);
    });
    var cursor = list.firstElementChild;
    nodes.forEach(function (node) {
      if (node === cursor) { cursor = cursor.nextElementSibling; return; }
      list.insertBefore(node, cursor);
    });
    if (focused && document.activeElement !== focused) keepFocus(list, focused);
  }
  // The focused item moved or went (an alert acknowledged, a hand lowered): focus stays in the list, or goes to the
  // heading of its section, never back to the top of the page.
  function keepFocus(list, focused) {
    if (list.contains(focused)) { focused.focus(); return; }
    var target = list.querySelector("button");
    if (!target) {
      target = list.previousElementSibling;
      while (target && !/^H[1-6]$/.test(target.tagName)) target = target.previousElementSibling;
      if (target && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    }
    if (target) target.focus();
  }
  function byUser(p) { return p.user_id; }
  // An item naming a person, whose buttons are described by that name ("Acknowledge", for Alex).
  function personItem(id, p, text, cls) {
    var li = el("li", null, cls);
    var name = el("span", text);
    name.id = id + "-" + p.user_id + "-name";
    li.appendChild(name);
    li.appendChild(document.createTextNode(" "));
    return li;
  }
  function render() {
    if (!state) return;
    status(state.open ? texts.open : texts.closed);
    var speaker = $("current-speaker");
    setText(speaker, state.speaker ? state.speaker.name : texts.nobody);
    renderList("speaker-order", state.order || [], function (p) {
      var li = el("li", p.name + (p.skipped ? " (" + texts.skipped + ")" : ""));
      if (state.speaker && state.speaker.user_id === p.user_id) li.setAttribute("aria-current", "step");
      return li;
    }, byUser);
    renderList("hands", state.hands || [], function (p) {
      var li = personItem("hands", p, p.name);
      if (isFacilitator) li.appendChild(control(texts.lower_hand, "lower_hand", { user_id: p.user_id }, li.firstChild));
      return li;
    }, byUser);
    renderList("presence", state.present || [], function (p) {
      var li = personItem("presence", p, p.name + (p.facilitator ? " (" + texts.facilitator + ")" : "") + (p.user_id === state.me ? " (" + texts.you + ")" : ""));
      if (isFacilitator && !p.facilitator) li.appendChild(control(texts.left_early, "mark_left_early", { user_id: p.user_id }, li.firstChild));
      return li;
    }, byUser);
    var checkins = (state.checkins || []).slice().sort(function (a, b) { return a.name.localeCompare(b.name); });
    renderList("checkins", checkins, function (c) {
      return el("li", c.name + ": " + describe(c), c.passed ? "checkin passed" : "checkin");
    }, byUser);
    var mine = (state.checkins || []).filter(function (c) { return c.user_id === state.me; })[0];
    if (mine) showOwn(mine);
    var hand = $("hand-button");
    if (hand) {
      var raised = (state.hands || []).some(function (p) { return p.user_id === state.me; });
      // The words say what a press does ("Raise my hand", "Lower my hand"); with changing words the button is not
      // also a toggle (aria-pressed), which would read "Lower my hand, pressed".
      hand.dataset.raised = raised ? "true" : "false";
      setText(hand, raised ? texts.hand_down : texts.hand_up);
    }
    if (isFacilitator) renderAlerts();
  }
  function renderAlerts() {
    var open = (state.alerts || []).filter(function (a) { return !a.acknowledged; });
    renderList("room-alerts", open, function (a) {
      var li = el("li", null, "alert-item");
      var what = el("span", a.name + " " + (a.kind === "need_support" ? texts.need_support : texts.low_mood));
      what.id = "alert-" + a.id + "-text";
      li.appendChild(what);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(control(texts.acknowledge, "acknowledge_alert", { alert_id: a.id }, what));
      return li;
    }, function (a) { return a.id; });
    var none = $("no-alerts"); if (none) none.hidden = open.length > 0;
  }
  function control(label, action, extra, describedBy) {
    var button = el("button", label);
    button.type = "button";
    if (describedBy) button.setAttribute("aria-describedby", describedBy.id);
    button.addEventListener("click", function () { act(action, extra); });
    return button;
  }
  function act(action, extra) {
    var payload = { session_id: sessionId };
    Object.keys(extra || {}).forEach(function (k) { payload[k] = extra[k]; });
    socket.timeout(10000).emit(action, payload, function (err, ack) {
      if (err || !ack) { status(texts.reconnecting); return; }
      if (!ack.ok) { status(ack.message || texts.error); return; }
      if (ack.state) { state = ack.state; render(); }
      if (ack.alert) { mergeAlert(ack.alert); }
    });
  }
  function mergeAlert(alert) {
    if (!state) return;
    state.alerts = (state.alerts || []).filter(function (a) { return a.id !== alert.id; });
    if (!alert.acknowledged) state.alerts.push(alert);
    renderAlerts();
  }
  function join() {
    socket.timeout(10000).emit("join_session", { session_id: sessionId }, function (err, ack) {
      if (err || !ack) { status(texts.reconnecting); return; }
      if (!ack.ok) { status(ack.message || texts.closed); return; }
      state = ack.state; render(); flush();
    });
  }

  socket.on("connect", join);
  socket.on("disconnect", function () { status(texts.reconnecting); });
  socket.on("room_state", function (s) {
    if (s.session_id !== sessionId || !state) return;
    var keep = { checkins: state.checkins, alerts: state.alerts, me: state.me, facilitator: state.facilitator, visibility: state.visibility };
    var wasOpen = state.open;
    state = Object.assign({}, s, keep);
    if (!wasOpen && s.open) { join(); return; }
    render();
  });
  socket.on("presence", function (p) { if (state && p.session_id === sessionId) { state.present = p.present; render(); } });
  socket.on("checkin", function (c) {
    if (!state || c.session_id !== sessionId) return;
    state.checkins = (state.checkins || []).filter(function (x) { return x.user_id !== c.user_id; });
    state.checkins.push(c);
    render();
  });
  socket.on("alert", function (a) { if (a.session_id === sessionId) mergeAlert(a); });

  window.setInterval(function () { if (socket.connected) { socket.emit("heartbeat", {}); flush(); } }, 20000);

  var form = $("checkin-form");
  if (form) {
    var range = $("mood"), output = $("mood-value");
    range.addEventListener("input", function () { output.textContent = range.value; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var energy = form.querySelector("input[name=energy]:checked");
      submit({ mood: parseInt(range.value, 10), energy: energy ? energy.value : null, note: $("note").value.trim() });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".mood-tap"), function (button) {
    button.addEventListener("click", function () { submit({ mood: parseInt(button.dataset.mood, 10) }); });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".pass-tap"), function (button) {
    button.addEventListener("click", function () { submit({ passed: true }); });
  });
  var hand = $("hand-button");
  if (hand) hand.addEventListener("click", function () {
    socket.timeout(10000).emit("raise_hand", { session_id: sessionId, raised: hand.dataset.raised !== "true" }, function () {});
  });
  var support = $("support-button");
  if (support) support.addEventListener("click", function () {
    socket.timeout(10000).emit("need_support", { session_id: sessionId }, function (err, ack) {
      // A refusal says why (the room is not open yet, say); the crisis resources stay in the page's footer.
      if (!err && ack && ack.ok) showSupport(); else status((ack && ack.message) || texts.error);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
    button.addEventListener("click", function () { act(button.dataset.action); });
  });
})();
