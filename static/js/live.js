// Live connections to the dashboard's websockets: each reconnects with exponential backoff (with
// jitter) after the server goes away and keeps itself alive with pings. The #connection badge shows
// the worst state among the page's connections: "reconnecting" > "stale since 12:03:04" >
// "connecting" > "live". A connection opened with `staleAfterMs` turns stale when no event arrived
// for that long while it is open (the topology feed: 3 poll intervals, see connectTopology).
// Usage: MeshscopeLive.connect("/ws/routes/", {onEvent(msg) {...}, onOpen() {...}}) or
//        MeshscopeLive.connectTopology({onEvent(msg) {...}}); both return {close(), send(message)}.
// A page that refreshes by polling instead (the health page) reports each fetch with
// MeshscopeLive.polled(name): {ok(), failed()}, and the badge says "live" or "stale since".
(function () {
  "use strict";
  const MIN_DELAY_MS = 500;
  const MAX_DELAY_MS = 10000;
  const PING_MS = 20000;
  const CHECK_MS = 500;
  // Higher is worse; the badge shows the worst connection.
  const RANK = { live: 0, connecting: 1, stale: 2, down: 3 };
  const connections = [];

  function setIndicator(state, text) {
    const el = document.getElementById("connection");
    if (!el) return;
    el.dataset.state = state;
    el.className = "conn conn-" + state;
    el.textContent = text;
  }

  function render() {
    let worst = null;
    connections.forEach(function (c) {
      if (!worst || RANK[c.state] > RANK[worst.state]) worst = c;
    });
    if (worst) setIndicator(worst.state, worst.text);
  }

  function clock(ms) {
    const d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (n) { return String(n).padStart(2, "0"); }).join(":");
  }

  function connect(path, handlers) {
    let delay = MIN_DELAY_MS;
    let socket = null;
    let pingTimer = null;
    let retryTimer = null;
    const staleAfterMs = handlers.staleAfterMs || 0;
    const entry = { path: path, state: "connecting", text: "◌ connecting…", lastEventAt: null };
    connections.push(entry);
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;

    function show(state, text) {
      entry.state = state;
      entry.text = text;
      render();
    }

    if (staleAfterMs) {
      setInterval(function () {
        if (!socket || socket.readyState !== WebSocket.OPEN || entry.lastEventAt === null) return;
        if (Date.now() - entry.lastEventAt > staleAfterMs) {
          if (entry.state !== "stale") show("stale", "◐ stale since " + clock(entry.lastEventAt));
        }
      }, CHECK_MS);
    }

    function open() {
      show("connecting", "◌ connecting…");
      socket = new WebSocket(url);
      socket.onopen = function () {
        delay = MIN_DELAY_MS;
        // Staleness counts from the opening until the first event arrives.
        entry.lastEventAt = Date.now();
        show("live", "● live");
        pingTimer = setInterval(function () {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, PING_MS);
        if (handlers.onOpen) handlers.onOpen();
      };
      socket.onmessage = function (message) {
        let data;
        try { data = JSON.parse(message.data); } catch (e) { return; }
        if (data.type === "pong") return;
        entry.lastEventAt = Date.now();
        if (entry.state !== "live") show("live", "● live");
        if (handlers.onEvent) handlers.onEvent(data);
      };
      socket.onclose = function (event) {
        clearInterval(pingTimer);
        if (event.code === 4401) {
          // Not logged in (session expired): reconnecting cannot help, go to the login page.
          show("down", "✕ logged out");
          location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
          return;
        }
        const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
        show("down", "○ reconnecting in " + Math.ceil(wait / 1000) + " s");
        retryTimer = setTimeout(open, wait);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      };
    }
    open();
    return {
      close: function () {
        clearTimeout(retryTimer);
        if (socket) { socket.onclose = null; socket.close(); }
        connections.splice(connections.indexOf(entry), 1);
        render();
      },
      // Send a JSON message now if connected; returns false otherwise (resend it from onOpen, which
      // runs again after every reconnect).
      send: function (message) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(message));
        return true;
      },
    };
  }

  // The topology feed: an update every poll interval, so 3 intervals without one is stale. The
  // interval comes from the badge's data-poll-interval-s (base.html).
  function connectTopology(handlers) {
    const el = document.getElementById("connection");
    const interval = el ? parseFloat(el.dataset.pollIntervalS || "1") : 1;
    return connect("/ws/topology/", Object.assign({ staleAfterMs: 3 * interval * 1000 }, handlers));
  }

  // A polling page's feed in the same badge: live after a successful refresh, stale (since the last
  // success) after a failed one.
  function polled(name) {
    const entry = { path: name, state: "connecting", text: "◌ connecting…", lastEventAt: null };
    connections.push(entry);
    render();
    return {
      ok: function () {
        entry.lastEventAt = Date.now();
        entry.state = "live";
        entry.text = "● live";
        render();
      },
      failed: function () {
        entry.state = "stale";
        entry.text = entry.lastEventAt === null ? "◐ stale" : "◐ stale since " + clock(entry.lastEventAt);
        render();
      },
    };
  }

  window.MeshscopeLive = {
    connect: connect,
    connectTopology: connectTopology,
    polled: polled,
    setIndicator: setIndicator,
  };
})();
