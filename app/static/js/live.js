// The one Socket.IO connection of a page (the live room, the facilitator's home page, the supporter's page). It opens
// the connection, opens it again when the server closed it, and stays closed for a connection refused for want of a
// login. The database is the record: a push sent while the connection was down is not replayed, so after every
// reconnect, and every little while if the page asks, it calls the page's resync to read the state again.
(function () {
  "use strict";
  if (!window.io) return;
  var MAX_DELAY = 30000;

  // options: onConnect(reconnected) on every connect (a room joined is forgotten with the connection that joined it);
  // onResync() on every connect after the first and, with `every` (ms), at that interval while connected;
  // onSignedOut() once, when the server refuses the connection for want of a login.
  function open(options) {
    options = options || {};
    var socket = window.io({ transports: ["websocket", "polling"] });
    var connectedBefore = false;
    var closed = false;
    var retries = 0;

    // socket.io reconnects by itself after a lost connection, but not after the server closed it (a sign-out on
    // another tab, a restart) nor after a refused connect: try again, more and more slowly, each page at its own
    // moment (the jitter), so that a restarted server is not met by every page at once.
    function reconnectLater() {
      var delay = Math.min(MAX_DELAY, 1000 * Math.pow(2, retries++)) * (0.75 + Math.random() / 2);
      window.setTimeout(function () { if (!closed && !socket.connected) socket.connect(); }, delay);
    }
    function close() {
      closed = true;
      if (socket.connected) socket.disconnect();
    }

    socket.on("connect", function () {
      var reconnected = connectedBefore;
      connectedBefore = true;
      retries = 0;
      if (options.onConnect) options.onConnect(reconnected);
      if (reconnected && options.onResync) options.onResync();
    });
    socket.on("disconnect", function (reason) {
      if (!closed && reason === "io server disconnect") reconnectLater();
    });
    socket.on("connect_error", function (error) {
      if (closed || socket.active) return; // socket.io tries again by itself
      if (error && error.message === "unauthorized") {
        closed = true;
        if (options.onSignedOut) options.onSignedOut();
      } else {
        reconnectLater();
      }
    });
    if (options.every && options.onResync) {
      window.setInterval(function () { if (!closed && socket.connected) options.onResync(); }, options.every);
    }

    // What a page needs of the socket. disconnect() is for good: nothing opens the connection again.
    var live = {
      on: function (name, handler) { socket.on(name, handler); return live; },
      emit: function () { socket.emit.apply(socket, arguments); return live; },
      timeout: function (ms) { return socket.timeout(ms); },
      disconnect: close
    };
    Object.defineProperty(live, "connected", { get: function () { return socket.connected; } });
    return live;
  }

  // A moment pushed live, written as the server writes it on the page ("Thu 10 Dec 2026, 07:00", "jue, 10 dic 2026,
  // 7:00"): in the reader's own zone (the page's data-zone) and language, not the browser's.
  function timeText(iso) {
    var lang = document.documentElement.lang || "en";
    var spanish = lang.indexOf("es") === 0;
    try {
      var parts = {};
      new Intl.DateTimeFormat(lang, {
        timeZone: document.documentElement.dataset.zone || undefined, weekday: "short", day: "numeric", month: "short",
        year: "numeric", hour: spanish ? "numeric" : "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(new Date(iso)).forEach(function (part) { parts[part.type] = part.value; });
      var day = [parts.day, parts.month.replace(".", ""), parts.year].join(" ");
      return (spanish ? parts.weekday + ", " : parts.weekday + " ") + day + ", " + parts.hour + ":" + parts.minute;
    } catch (e) { return iso; }
  }

  window.MomentumLive = { open: open, timeText: timeText };
})();
