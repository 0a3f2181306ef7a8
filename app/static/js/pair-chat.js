// The pair chat, live. The page works without this script (a form that posts, a history the server draws); with it,
// messages arrive as they are sent, the peer's typing and what they have read show, and deleting takes effect for both
// at once. The database is the record: on every (re)connect the chat is joined again and read again from the server.
// A message not yet acknowledged is kept in localStorage (under this account) and sent again with the same client_id
// until the server has it (it stores each id once); the draft in the box survives a lost connection and a reload.
(function () {
  "use strict";
  var root = document.getElementById("pair-chat");
  if (!root || !window.MomentumLive) return;
  var pairId = parseInt(root.dataset.pairId, 10);
  var me = parseInt(root.dataset.userId, 10);
  var texts = JSON.parse(document.getElementById("chat-texts").textContent);
  var STORE = "momentum:pair-pending:" + me;
  var DRAFT = "momentum:pair-draft:" + me + ":" + pairId;
  var TYPING_EVERY = 3000;
  var TYPING_SHOWN = 6000;
  var list = document.getElementById("chat-messages");
  var form = document.getElementById("chat-form");
  var box = form.querySelector("textarea");
  var csrf = form.querySelector("input[name=csrf_token]");
  var messages = [];
  var read = { mine: null, peer: null };
  var joined = false;
  var closed = false;
  var signedOut = false;
  var sending = {};
  var typingSentAt = 0;
  var typingStop = null;
  var typingHide = null;
  var socket = window.MomentumLive.open({ onConnect: join, onSignedOut: signOut });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function setText(node, text) { if (node && node.textContent !== text) node.textContent = text; }
  function status(text) { setText(document.getElementById("chat-status"), text); }
  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  function stored(name, fallback) {
    try { var value = window.localStorage.getItem(name); return value === null ? fallback : JSON.parse(value); }
    catch (e) { return fallback; }
  }
  function store(name, value) {
    try {
      if (value === null || (value.length !== undefined && !value.length)) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, JSON.stringify(value));
    } catch (e) { /* kept in this page only */ }
  }
  function pending() { return stored(STORE, []).filter(function (i) { return i.pair_id === pairId; }); }
  function keep(item) { var all = stored(STORE, []); all.push(item); store(STORE, all); }
  function forget(clientId) {
    store(STORE, stored(STORE, []).filter(function (i) { return i.client_id !== clientId; }));
    delete sending[clientId];
  }

  // Drawing ----------------------------------------------------------------------------------------------------------
  function when(iso) {
    var time = el("time", window.MomentumLive.timeText(iso));
    time.setAttribute("datetime", iso);
    return time;
  }
  function deleteForm(message) {
    var del = el("form", null, "chat-delete");
    del.method = "post";
    del.action = root.dataset.deleteUrl.replace(/\/0\/delete$/, "/" + message.id + "/delete");
    var token = el("input"); token.type = "hidden"; token.name = "csrf_token"; token.value = csrf ? csrf.value : "";
    var button = el("button", texts.delete, "quiet");
    button.type = "submit";
    button.setAttribute("aria-label", texts.delete_label.replace("{text}", message.body.slice(0, 40)));
    del.appendChild(token); del.appendChild(button);
    return del;
  }
  function item(message, last) {
    var mine = message.author_id === me;
    var li = el("li", null, "chat-message" + (mine ? " chat-mine" : "") + (message.pending ? " chat-pending" : ""));
    li.dataset.key = message.pending ? "p-" + message.client_id : String(message.id);
    var meta = el("p", null, "chat-meta");
    meta.appendChild(el("strong", mine ? texts.you : message.author_name));
    meta.appendChild(document.createTextNode(" · "));
    if (message.pending) meta.appendChild(el("span", texts.sending));
    else meta.appendChild(when(message.created_at));
    if (mine && last && !message.pending && read.peer && read.peer >= message.id) {
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(el("span", texts.seen, "badge badge-muted"));
    }
    li.appendChild(meta);
    li.appendChild(el("p", message.body, "chat-body"));
    if (mine && !message.pending) li.appendChild(deleteForm(message));
    li.dataset.look = li.className + "|" + meta.textContent + "|" + message.body;
    return li;
  }
  // Updated in place, item by item: a message already shown keeps its node (and a focused button its focus), so the
  // live list announces only what is new.
  function render() {
    var shown = messages.slice();
    pending().forEach(function (p) {
      if (!shown.some(function (m) { return m.client_id === p.client_id && m.author_id === me; })) {
        shown.push({ pending: true, client_id: p.client_id, body: p.body, author_id: me });
      }
    });
    var old = {};
    Array.prototype.forEach.call(list.children, function (child) { old[child.dataset.key] = child; });
    var nodes = shown.map(function (m, i) {
      var fresh = item(m, i === shown.length - 1);
      var previous = old[fresh.dataset.key];
      return previous && previous.dataset.look === fresh.dataset.look ? previous : fresh;
    });
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (nodes.indexOf(child) < 0) list.removeChild(child);
    });
    var cursor = list.firstElementChild;
    nodes.forEach(function (node) {
      if (node === cursor) { cursor = cursor.nextElementSibling; return; }
      list.insertBefore(node, cursor);
    });
    document.getElementById("chat-empty").hidden = shown.length > 0;
    list.scrollTop = list.scrollHeight;
  }
  function upsert(message) {
    messages = messages.filter(function (m) { return m.id !== message.id; });
    if (!message.deleted) messages.push(message);
    messages.sort(function (a, b) { return a.id - b.id; });
  }

  // Talking to the server ---------------------------------------------------------------------------------------------
  function join() {
    if (signedOut || !socket.connected) return;
    socket.timeout(10000).emit("join_pair_chat", { pair_id: pairId }, function (err, ack) {
      if (err || !ack) { status(texts.reconnecting); return; }
      if (!ack.ok) { refused(ack); return; }
      joined = true;
      messages = ack.messages;
      read = ack.read;
      status(texts.connected);
      render();
      flush();
      markRead();
    });
  }
  function refused(ack) {
    if (ack.error === "unauthorized") { signOut(); return; }
    if (ack.error === "pair_not_active" || ack.error === "not_found") {
      closed = true;
      joined = false;
      form.hidden = true;
      status(texts.closed);
      socket.disconnect();
      return;
    }
    status(ack.message || texts.error);
  }
  function send(item) {
    if (!joined || closed || signedOut || !socket.connected || sending[item.client_id]) return;
    sending[item.client_id] = true;
    socket.timeout(10000).emit("send_pair_message", { pair_id: pairId, body: item.body, client_id: item.client_id },
      function (err, ack) {
        delete sending[item.client_id];
        if (err || !ack) return; // no answer: it stays pending and is sent again
        if (ack.ok) {
          forget(item.client_id);
          upsert(ack.message);
          if (ack.message.id > (read.mine || 0)) read.mine = ack.message.id;
          render();
          if (ack.support) showSupport(ack.support);
          return;
        }
        if (ack.error === "server_error") return; // tried again on the next connect
        forget(item.client_id);
        render();
        if (!box.value) { box.value = item.body; saveDraft(); } // the words are given back, not lost
        refused(ack);
      });
  }
  function flush() { pending().forEach(send); }
  function markRead() {
    if (!joined || document.hidden || !messages.length) return;
    var newest = messages[messages.length - 1].id;
    if (newest <= (read.mine || 0)) return;
    read.mine = newest;
    socket.emit("mark_pair_read", { pair_id: pairId, message_id: newest }, function () {});
  }
  function remove(id) {
    socket.timeout(10000).emit("delete_pair_message", { pair_id: pairId, message_id: id }, function (err, ack) {
      if (err || !ack) { status(texts.reconnecting); return; }
      if (!ack.ok) { refused(ack); return; }
      messages = messages.filter(function (m) { return m.id !== id; });
      render();
      status(texts.deleted);
      box.focus();
    });
  }
  function showSupport(resources) {
    var notice = document.getElementById("chat-support");
    if (notice) return;
    notice = el("div", null, "notice notice-info");
    notice.id = "chat-support";
    notice.setAttribute("role", "alert");
    notice.appendChild(el("p", texts.support));
    var items = el("ul", null, "crisis-list");
    ["name", "phone", "text", "url", "note"].forEach(function (k) { if (resources[k]) items.appendChild(el("li", resources[k])); });
    items.appendChild(el("li", texts.emergency));
    notice.appendChild(items);
    form.parentNode.insertBefore(notice, form);
  }
  function signOut() {
    signedOut = true;
    joined = false;
    status(texts.signed_out);
    socket.disconnect();
  }

  // The draft and typing ---------------------------------------------------------------------------------------------
  function saveDraft() { store(DRAFT, box.value ? box.value : null); }
  function typing(now) {
    if (!joined || closed) return;
    window.clearTimeout(typingStop);
    if (now && Date.now() - typingSentAt > TYPING_EVERY) {
      typingSentAt = Date.now();
      socket.emit("pair_typing", { pair_id: pairId, typing: true }, function () {});
    }
    if (now) typingStop = window.setTimeout(function () { typing(false); }, TYPING_EVERY + 1000);
    else if (typingSentAt) {
      typingSentAt = 0;
      socket.emit("pair_typing", { pair_id: pairId, typing: false }, function () {});
    }
  }

  socket.on("disconnect", function () { joined = false; if (!signedOut && !closed) status(texts.reconnecting); });
  socket.on("connect_error", function () { if (!signedOut && !closed) status(texts.reconnecting); });
  socket.on("pair_message", function (message) {
    if (message.pair_id !== pairId) return;
    upsert(message);
    if (message.author_id !== me) setText(document.getElementById("chat-typing"), "");
    render();
    markRead();
  });
  socket.on("pair_message_deleted", function (gone) {
    if (gone.pair_id !== pairId) return;
    messages = messages.filter(function (m) { return m.id !== gone.id; });
    render();
  });
  socket.on("pair_read", function (state) {
    if (state.pair_id !== pairId || state.user_id === me) return;
    read.peer = state.last_read_message_id;
    render();
  });
  // The pair ended (a member left or blocked, or the facilitator ended it): the chat closes at once.
  socket.on("peer_pair_ended", function (ended) {
    if (ended.pair_id === pairId) refused({ error: "pair_not_active" });
  });
  socket.on("pair_typing", function (state) {
    if (state.pair_id !== pairId || state.user_id === me) return;
    var line = document.getElementById("chat-typing");
    window.clearTimeout(typingHide);
    setText(line, state.typing ? texts.typing.replace("{name}", root.dataset.peerName) : "");
    if (state.typing) typingHide = window.setTimeout(function () { setText(line, ""); }, TYPING_SHOWN);
  });

  form.addEventListener("submit", function (event) {
    if (closed || signedOut) return; // the form posts as it would without the script
    event.preventDefault();
    var body = box.value.trim();
    if (!body) { status(texts.write_first); box.focus(); return; }
    var entry = { pair_id: pairId, client_id: newClientId(), body: body };
    keep(entry);
    box.value = "";
    saveDraft();
    typing(false);
    render();
    send(entry);
  });
  box.addEventListener("input", function () { saveDraft(); typing(!!box.value); });
  list.addEventListener("submit", function (event) {
    var target = event.target.closest(".chat-delete");
    if (!target || !joined) return; // without the connection, the form posts
    event.preventDefault();
    remove(parseInt(target.closest("[data-key]").dataset.key, 10));
  });
  document.addEventListener("visibilitychange", markRead);

  var draft = stored(DRAFT, null);
  if (draft && !box.value) box.value = draft;
  status(texts.connecting);
  if (pending().length) render();
})();
