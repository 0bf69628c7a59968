// Live connection to the dashboard's websocket: reconnects with exponential backoff (with jitter)
// after the server goes away, keeps the connection alive with pings, and shows its state in the
// #connection indicator. Usage: MeshscopeLive.connect("/ws/topology/", {onEvent(msg) {...}, onOpen() {...}})
// returns {close(), send(message)}.
(function () {
  "use strict";
  const MIN_DELAY_MS = 500;
  const MAX_DELAY_MS = 10000;
  const PING_MS = 20000;

  function setIndicator(state, text) {
    const el = document.getElementById("connection");
    if (!el) return;
    el.dataset.state = state;
    el.className = "conn conn-" + state;
    el.textContent = text;
  }

  function connect(path, handlers) {
    let delay = MIN_DELAY_MS;
    let socket = null;
    let pingTimer = null;
    let retryTimer = null;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;

    function open() {
      setIndicator("connecting", "◌ connecting…");
      socket = new WebSocket(url);
      socket.onopen = function () {
        delay = MIN_DELAY_MS;
        setIndicator("live", "● live");
        pingTimer = setInterval(function () {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, PING_MS);
        if (handlers.onOpen) handlers.onOpen();
      };
      socket.onmessage = function (message) {
        let data;
        try { data = JSON.parse(message.data); } catch (e) { return; }
        if (data.type !== "pong" && handlers.onEvent) handlers.onEvent(data);
      };
      socket.onclose = function (event) {
        clearInterval(pingTimer);
        if (event.code === 4401) {
          // Not logged in (session expired): reconnecting cannot help, go to the login page.
          setIndicator("down", "✕ logged out");
          location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
          return;
        }
        const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
        setIndicator("down", "○ reconnecting in " + Math.ceil(wait / 1000) + " s");
        retryTimer = setTimeout(open, wait);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      };
    }
    open();
    return {
      close: function () { clearTimeout(retryTimer); if (socket) { socket.onclose = null; socket.close(); } },
      // Send a JSON message now if connected; returns false otherwise (resend it from onOpen, which
      // runs again after every reconnect).
      send: function (message) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(message));
        return true;
      },
    };
  }

  window.MeshscopeLive = { connect: connect, setIndicator: setIndicator };
})();
