// The supporter's page: refreshed from the server when the patient's shared data changes, and only while a consent
// allows it. When access ends (stopped, on hold, expired) the server says so before it takes this socket out of the
// room: the page drops everything it was showing at once and says it is no longer shared. live.js keeps the
// connection.
(function () {
  "use strict";
  var content = document.getElementById("shared-content");
  if (!content || !window.MomentumLive) return;
  var patientId = parseInt(content.dataset.patientId, 10);
  var status = document.getElementById("shared-status");
  var socket = window.MomentumLive.open({ onConnect: join });
  var ended = false;

  function end() {
    ended = true;
    status.textContent = content.dataset.ended;
    status.classList.add("notice", "notice-info");
    socket.disconnect();
  }
  // Nothing of what was shared stays in the page, not even hidden: the content is removed, not covered.
  function drop() {
    if (ended) return;
    content.replaceChildren();
    end();
  }
  function refresh() {
    if (ended) return;
    window.fetch(window.location.pathname, { headers: { "X-Momentum-Fragment": "1" }, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) { return { ok: response.ok, html: html }; });
      })
      .then(function (result) {
        // The server renders and escapes the fragment; it is this site's own markup. A refresh that set out before
        // access ended must not bring the data back.
        if (result.ok) { if (!ended) replaceKeepingDrafts(result.html); }
        else { content.innerHTML = result.html; end(); }
      })
      .catch(function () { /* offline: the next reconnect refreshes */ });
  }
  // A refresh must not cost the supporter a note half written, nor move their keyboard focus.
  function replaceKeepingDrafts(html) {
    var drafts = {};
    Array.prototype.forEach.call(content.querySelectorAll("textarea[id], input[type=text][id]"), function (field) {
      if (field.value) drafts[field.id] = field.value;
    });
    var active = document.activeElement;
    var focusedId = active && active.id && content.contains(active) ? active.id : null;
    var selection = focusedId && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
    content.innerHTML = html;
    Object.keys(drafts).forEach(function (id) {
      var field = document.getElementById(id);
      if (field && content.contains(field)) field.value = drafts[id];
    });
    var again = focusedId && document.getElementById(focusedId);
    if (again && content.contains(again)) {
      again.focus();
      if (selection && again.setSelectionRange) again.setSelectionRange(selection[0], selection[1]);
    }
  }
  // The room of this patient's updates is joined on every connect; only once the server has let this socket in
  // again is the page re-read after a reconnect (a push missed meanwhile is not replayed).
  function join(reconnected) {
    socket.emit("join_shared", { patient_id: patientId }, function (ack) {
      if (ack && ack.error === "access_ended") { drop(); return; }
      if (!ack || !ack.ok) { end(); return; }
      if (reconnected) refresh();
    });
  }
  socket.on("shared_update", function (data) { if (data.patient_id === patientId) refresh(); });
  socket.on("shared_ended", function (data) { if (data.patient_id === patientId) drop(); });
})();
