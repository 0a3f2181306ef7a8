// The live check-in room. The database is the record: on every (re)connect the client enters and re-syncs the whole
// state from the server, and again every little while (cheaply: the server answers "unchanged" when nothing moved),
// so a push lost on the way (Redis down, say) is caught up. Check-ins and calls for support not yet acknowledged are
// kept in localStorage, under this account only, and re-sent with the same client_id until the server says it has
// them (it stores each id once). The connection itself, and opening it again, is live.js's.
(function () {
  "use strict";
  var root = document.getElementById("live-room");
  if (!root || !window.MomentumLive) return;
  var sessionId = parseInt(root.dataset.sessionId, 10);
  var isFacilitator = root.dataset.facilitator === "true";
  var texts = JSON.parse(document.getElementById("room-texts").textContent);
  var STORE = "momentum:pending:" + root.dataset.userId;
  var SYNC_EVERY = 20000;
  var LOBBY_EVERY = 30000;
  var SUPPORT_AGAIN_AFTER = 5 * 60000; // a press within this time of the last one is the same call for support
  var state = null;
  var etag = null;
  var inRoom = false;
  var entering = false;
  var signedOut = false;
  var lobbyTimer = null;
  var lastSupport = null;
  var sending = {};
  // Every connect enters the room again (which re-reads it all); the regular sync is also the heartbeat that keeps
  // this page present in the room.
  var socket = window.MomentumLive.open({ onConnect: enter, onResync: sync, every: SYNC_EVERY, onSignedOut: signOut });

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

  // What waits to be sent survives reloads and lost connections, and belongs to one account: on a shared browser the
  // next person must neither send it as their own nor find it on the disk (signing out clears the site's storage).
  function forgetOtherAccounts() {
    try {
      for (var i = window.localStorage.length - 1; i >= 0; i--) {
        var name = window.localStorage.key(i);
        if (name && name.indexOf("momentum:pending") === 0 && name !== STORE) window.localStorage.removeItem(name);
      }
    } catch (e) { /* storage unavailable: nothing was kept either */ }
  }
  function pending() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "[]"); } catch (e) { return []; }
  }
  function savePending(list) {
    try {
      if (list.length) window.localStorage.setItem(STORE, JSON.stringify(list));
      else window.localStorage.removeItem(STORE);
    } catch (e) { /* kept in this page only */ }
  }
  function keep(item) { var list = pending(); list.push(item); savePending(list); }
  function forget(clientId) {
    savePending(pending().filter(function (item) { return item.client_id !== clientId; }));
    delete sending[clientId];
  }
  function payloadOf(item) {
    var payload = { session_id: item.session_id, client_id: item.client_id };
    if (item.kind === "checkin") ["mood", "energy", "note", "passed"].forEach(function (k) { payload[k] = item[k]; });
    return payload;
  }
  function send(item) {
    if (item.session_id !== sessionId || !socket.connected || signedOut || sending[item.client_id]) return;
    if (item.kind !== "support" && !inRoom) return; // a check-in waits for the room; a call for support does not
    sending[item.client_id] = true;
    var name = item.kind === "support" ? "need_support" : "checkin";
    socket.timeout(10000).emit(name, payloadOf(item), function (err, ack) {
      delete sending[item.client_id];
      if (err || !ack) return; // no answer: it stays pending and is sent again
      if (ack.ok) {
        forget(item.client_id);
        if (item.kind === "support") {
          lastSupport = { client_id: item.client_id, at: Date.now() };
          if (state) state.support = { seen_by: null }; // this call, not one seen before it
          showSupport(true);
        } else {
          showOwn(ack.checkin);
          if (ack.support) showSupport(true);
        }
      } else if (ack.error === "unauthorized") {
        signOut();
      } else if (ack.error === "server_error") {
        return; // try again later
      } else if (ack.error === "room_closed") {
        leaveRoom(); // it waits for the room to open again
      } else {
        forget(item.client_id);
        status(ack.message || texts.error);
      }
    });
  }
  function flush() { pending().forEach(send); }
  function submit(fields) {
    var item = { kind: "checkin", session_id: sessionId, client_id: newClientId(), passed: false, mood: null,
                 energy: null, note: "" };
    Object.keys(fields).forEach(function (k) { item[k] = fields[k]; });
    keep(item);
    setText($("own-checkin"), texts.pending);
    send(item);
  }
  function askForSupport() {
    showSupport(false); // where help is, at once; that the facilitator knows, once the server has it
    var item = pending().filter(function (i) { return i.kind === "support" && i.session_id === sessionId; })[0];
    if (!item) {
      var again = lastSupport && Date.now() - lastSupport.at < SUPPORT_AGAIN_AFTER;
      item = { kind: "support", session_id: sessionId, client_id: again ? lastSupport.client_id : newClientId() };
      keep(item);
    }
    send(item);
  }

  function moodLine(mood) {
    return texts.mood_line.replace("{mood}", String(mood)).replace("{word}", texts.mood_words[mood] || "");
  }
  function describe(c) {
    if (!c.checked_in) return "";
    if (c.passed) return texts.passed;
    if (c.mood === undefined || c.mood === null) return texts.checked_in;
    var parts = [moodLine(c.mood)];
    if (c.energy) parts.push(texts.energy + ": " + (texts[c.energy] || c.energy));
    if (c.note) parts.push("“" + c.note + "”");
    return parts.join(" · ");
  }
  function showOwn(c) { setText($("own-checkin"), texts.saved + " " + describe(c)); }
  // seenBy: the facilitator who has seen the call; focus: false when the page only shows again what it knew.
  function showSupport(told, seenBy, focus) {
    var box = $("support-confirmation");
    if (!box) return;
    var text = seenBy ? texts.support_seen.replace("{name}", seenBy) : (told ? texts.support_sent : texts.support_sending);
    setText($("support-status"), text);
    box.classList.toggle("support-seen", !!seenBy);
    if (box.hidden) { box.hidden = false; if (focus !== false) box.focus(); }
  }
  function renderSupport(support) {
    if (isFacilitator || !support) return;
    if (pending().some(function (i) { return i.kind === "support" && i.session_id === sessionId; })) return;
    showSupport(true, support.seen_by, false);
  }

  // Lists are updated in place, item by item (keyed): an unchanged item keeps its node, so a button keeps the
  // keyboard focus when something else in the room changes, and a live list announces only what is new.
  function renderList(id, items, render, keyOf) {
    var list = $(id); if (!list) return;
    var focused = list.contains(document.activeElement) ? document.activeElement : null;
    var focusedItem = focused && focused.closest("[data-key]");
    var focusedKey = focusedItem ? focusedItem.dataset.key : undefined;
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
    if (focused && document.activeElement !== focused) keepFocus(list, focused, focusedKey);
  }
  // The focused item moved or went (an alert acknowledged, a hand lowered): focus stays in the list, or goes to the
  // heading of its section, never back to the top of the page.
  function keepFocus(list, focused, key) {
    if (list.contains(focused)) { focused.focus(); return; }
    // The item was drawn anew (a tile whose hand went down): the same button in it, else its first, else its heading.
    var again = key !== undefined && list.querySelector('[data-key="' + key + '"]');
    if (again) {
      var same = Array.prototype.filter.call(again.querySelectorAll("button"), function (b) {
        return b.textContent === focused.textContent;
      })[0] || again.querySelector("button") || again.querySelector("h3");
      if (same) {
        if (same.tagName === "H3") same.setAttribute("tabindex", "-1");
        same.focus();
        return;
      }
    }
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
    if (inRoom) status(state.open ? (isFacilitator && state.members_from) || texts.open : texts.closed);
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
    if (mine && !pending().some(function (i) { return i.kind === "checkin" && i.session_id === sessionId; })) showOwn(mine);
    var hand = $("hand-button");
    if (hand) {
      var raised = (state.hands || []).some(function (p) { return p.user_id === state.me; });
      // The words say what a press does ("Raise my hand", "Lower my hand"); with changing words the button is not
      // also a toggle (aria-pressed), which would read "Lower my hand, pressed".
      hand.dataset.raised = raised ? "true" : "false";
      setText(hand, raised ? texts.hand_down : texts.hand_up);
    }
    if (isFacilitator) { renderAlerts(); renderControls(); renderTiles(); }
    else renderSupport(state.support);
  }
  // The controls that fit the room's state: open it while it is closed; while it is open, a round to start, or the
  // turns of the round under way, and closing it.
  function renderControls() {
    var open = !!state.open, speaking = !!state.speaker;
    var shown = { open_room: !open, close_room: open, start_round: open && !speaking,
                  next_speaker: open && speaking, skip_speaker: open && speaking };
    var focused = document.activeElement;
    Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
      button.hidden = !shown[button.dataset.action];
    });
    if (focused && focused.dataset && focused.dataset.action && focused.hidden) {
      var next = document.querySelector("[data-action]:not([hidden])");
      if (next) next.focus();
    }
  }
  // One tile per member of the group, present or not: what they said, whether their hand is up, whether they speak
  // now, whether an alert of theirs is open.
  function renderTiles() {
    var here = {}, hands = {}, left = {}, checkins = {}, alerts = {}, turns = {};
    (state.present || []).forEach(function (p) { here[p.user_id] = true; });
    (state.hands || []).forEach(function (p) { hands[p.user_id] = true; });
    (state.left_early || []).forEach(function (p) { left[p.user_id] = true; });
    (state.checkins || []).forEach(function (c) { checkins[c.user_id] = c; });
    (state.order || []).forEach(function (p, i) { turns[p.user_id] = i + 1; });
    (state.alerts || []).forEach(function (a) { if (!a.acknowledged) alerts[a.user_id] = a; });
    var members = state.members || [];
    setText($("group-count"), "(" + texts.members_here.replace("{here}", String(members.filter(function (m) {
      return here[m.user_id] && !left[m.user_id];
    }).length)).replace("{all}", String(members.length)) + ")");
    renderList("tiles", members, function (m) {
      var present = here[m.user_id] && !left[m.user_id];
      var speaking = state.speaker && state.speaker.user_id === m.user_id;
      var li = el("li", null, "tile" + (present ? "" : " tile-away") + (speaking ? " tile-speaking" : "") +
                              (alerts[m.user_id] ? " tile-alert" : ""));
      var head = el("div", null, "tile-head");
      var name = el("h3", m.name, "tile-name");
      name.id = "tile-" + m.user_id + "-name";
      head.appendChild(name);
      head.appendChild(el("span", left[m.user_id] ? texts.left_early_badge : (present ? texts.here : texts.away),
                          "badge " + (present ? "badge-ok" : "badge-muted")));
      li.appendChild(head);
      var c = checkins[m.user_id];
      var line = el("p", c ? null : texts.not_checked_in, "tile-checkin" + (c ? "" : " muted"));
      if (c) {
        line.textContent = c.passed ? texts.passed : moodLine(c.mood);
        if (!c.passed && c.energy) line.textContent += " · " + texts.energy + ": " + (texts[c.energy] || c.energy);
      }
      li.appendChild(line);
      if (c && c.note) li.appendChild(el("p", "“" + c.note + "”", "tile-note"));
      // The tile's state and what can be done about it, in one wrapping row: badges first, then the buttons.
      var foot = el("div", null, "tile-foot");
      var flags = el("span", null, "tile-flags");
      if (alerts[m.user_id]) {
        flags.appendChild(el("span", alerts[m.user_id].kind === "need_support" ? texts.alert_need_support
                                                                                 : texts.alert_low_mood,
                             "badge badge-danger"));
      }
      if (speaking) flags.appendChild(el("span", texts.speaker, "badge badge-info"));
      else if (turns[m.user_id]) flags.appendChild(el("span", texts.turn.replace("{n}", turns[m.user_id]), "badge badge-muted"));
      if (hands[m.user_id]) flags.appendChild(el("span", texts.hand_raised, "badge badge-warn"));
      if (flags.childNodes.length) foot.appendChild(flags);
      if (hands[m.user_id]) foot.appendChild(control(texts.lower_hand, "lower_hand", { user_id: m.user_id }, name));
      if (present) foot.appendChild(control(texts.left_early, "mark_left_early", { user_id: m.user_id }, name));
      if (foot.childNodes.length) li.appendChild(foot);
      return li;
    }, byUser);
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
  // A control answers with the room as it now is: the facilitator's screen does not wait for a push.
  function act(action, extra) {
    var payload = { session_id: sessionId };
    Object.keys(extra || {}).forEach(function (k) { payload[k] = extra[k]; });
    socket.timeout(10000).emit(action, payload, function (err, ack) {
      if (err || !ack) { status(texts.reconnecting); return; }
      if (!ack.ok) { status(ack.message || texts.error); return; }
      if (ack.state) apply(ack);
      if (ack.alert) mergeAlert(ack.alert);
    });
  }
  function apply(ack) {
    if (ack.unchanged) return;
    state = ack.state; etag = ack.etag; render();
  }
  function mergeAlert(alert) {
    if (!state) return;
    state.alerts = (state.alerts || []).filter(function (a) { return a.id !== alert.id; });
    if (!alert.acknowledged) state.alerts.push(alert);
    renderAlerts();
    if (state.members) renderTiles();
  }

  // Entering, the lobby, and keeping up ------------------------------------------------------------------------------
  function showLobby(waiting) {
    var hint = $("room-lobby"); if (hint) hint.hidden = !waiting;
  }
  function enter() {
    if (entering || signedOut || !socket.connected) return;
    entering = true;
    window.clearTimeout(lobbyTimer);
    socket.timeout(10000).emit("join_session", { session_id: sessionId }, function (err, ack) {
      entering = false;
      if (err || !ack) { status(texts.reconnecting); lobbyTimer = window.setTimeout(enter, LOBBY_EVERY); return; }
      if (ack.ok) { inRoom = true; showLobby(false); apply(ack); flush(); return; }
      inRoom = false;
      if (ack.error === "unauthorized") signOut();
      else if (ack.error === "room_closed") waitInLobby(ack);
      else status(ack.message || texts.error);
    });
  }
  // Early, or the room closed: wait here. The server tells the lobby when the room opens; the page also asks again
  // now and then (a push may be lost), and at the lobby time when only that is missing.
  function waitInLobby(ack) {
    status(ack.message || texts.closed);
    showLobby(true);
    flush(); // a call for support goes out from the lobby too
    var delay = ack.opens_in ? Math.min(ack.opens_in * 1000 + 1000, LOBBY_EVERY) : LOBBY_EVERY;
    window.clearTimeout(lobbyTimer);
    lobbyTimer = window.setTimeout(enter, delay);
  }
  function leaveRoom() {
    if (!inRoom) return;
    inRoom = false;
    if (state) { state.open = false; render(); }
    status(texts.closed);
    window.setTimeout(enter, 500 + Math.random() * 1500); // into the lobby, to hear when it opens again
  }
  function sync() {
    if (!inRoom || !socket.connected || signedOut) return;
    socket.timeout(10000).emit("sync", { session_id: sessionId, etag: etag }, function (err, ack) {
      if (err || !ack) return;
      if (ack.ok) { apply(ack); flush(); return; }
      if (ack.error === "unauthorized") signOut();
      else if (ack.error === "room_closed") { leaveRoom(); }
    });
  }
  function signOut() {
    signedOut = true;
    inRoom = false;
    window.clearTimeout(lobbyTimer);
    showLobby(false);
    status(texts.signed_out);
    var box = $("signed-out"); if (box) box.hidden = false;
    socket.disconnect(); // for good: nothing opens it again
  }
  socket.on("disconnect", function () {
    inRoom = false;
    window.clearTimeout(lobbyTimer);
    if (!signedOut) status(texts.reconnecting);
  });
  socket.on("connect_error", function () { if (!signedOut) status(texts.reconnecting); });
  socket.on("room_state", function (s) {
    if (s.session_id !== sessionId) return;
    if (!inRoom) { if (s.open) enter(); return; } // waiting in the lobby: the room opened
    var keep = { checkins: state.checkins, alerts: state.alerts, me: state.me, facilitator: state.facilitator,
                 visibility: state.visibility, members: state.members, members_from: state.members_from,
                 support: state.support };
    var wasOpen = state.open;
    state = Object.assign({}, s, keep);
    if (!s.open && !isFacilitator) { leaveRoom(); return; } // the room closed: members wait in the lobby
    if (!wasOpen && s.open) { enter(); return; }
    render();
  });
  socket.on("presence", function (p) { if (state && inRoom && p.session_id === sessionId) { state.present = p.present; render(); } });
  socket.on("checkin", function (c) {
    if (!state || c.session_id !== sessionId) return;
    // A member's own check-in is always shown in full (the server sends it so): never replaced by the "checked in"
    // that the others see.
    if (c.user_id === state.me && c.mood === undefined) return;
    state.checkins = (state.checkins || []).filter(function (x) { return x.user_id !== c.user_id; });
    state.checkins.push(c);
    render();
  });
  socket.on("alert", function (a) { if (a.session_id === sessionId) mergeAlert(a); });
  // A facilitator has seen this member's call for support: said at once, in calm words (a sync reads it again).
  socket.on("support_seen", function (seen) {
    if (isFacilitator || seen.session_id !== sessionId) return;
    if (state) state.support = seen;
    renderSupport(seen); // in the lobby too, where the call may have gone from
  });

  forgetOtherAccounts();
  var form = $("checkin-form");
  if (form) {
    var missing = $("mood-missing");
    form.addEventListener("change", function () { missing.hidden = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var mood = form.querySelector("input[name=mood]:checked");
      if (!mood) { // a mood, or a pass: nothing is sent without one
        missing.hidden = false;
        form.querySelector("input[name=mood]").focus();
        return;
      }
      var energy = form.querySelector("input[name=energy]:checked");
      submit({ mood: parseInt(mood.value, 10), energy: energy ? energy.value : null, note: $("note").value.trim() });
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
  if (support) support.addEventListener("click", askForSupport);
  Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
    button.addEventListener("click", function () { act(button.dataset.action); });
  });
  if (pending().some(function (i) { return i.kind === "checkin" && i.session_id === sessionId; })) {
    setText($("own-checkin"), texts.pending);
  }
})();
