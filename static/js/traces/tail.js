// Live tail of the search page: traces that complete while the page is open arrive over
// /ws/traces/ (filtered server-side by the page's search) and go on top of the list. `TailBuffer`
// and `statusText` are pure; `connect` wires them to the realtime seam (static/js/live.js).
(function (root) {
  "use strict";

  /**
   * Newest-first list of trace summaries capped at `cap` rows, deduplicated by traceId (a trace
   * that arrives again replaces its row and moves to the top). While paused, arrivals wait in a
   * queue (also capped) and `resume()` puts them on top in arrival order.
   */
  function TailBuffer(cap) {
    this.cap = cap;
    this.rows = [];
    this.queued = [];
    this.paused = false;
    this.dropped = 0;
  }

  TailBuffer.prototype.seed = function (summaries) {
    this.rows = [];
    for (let k = 0; k < summaries.length && this.rows.length < this.cap; k++) {
      if (!this.rows.some(function (r) { return r.traceId === summaries[k].traceId; })) this.rows.push(summaries[k]);
    }
  };

  /** Add one summary; returns true when the visible rows changed. */
  TailBuffer.prototype.add = function (summary) {
    if (this.paused) {
      this.queued = this.queued.filter(function (r) { return r.traceId !== summary.traceId; });
      this.queued.push(summary);
      if (this.queued.length > this.cap) this.queued.shift();
      return false;
    }
    this.rows = this.rows.filter(function (r) { return r.traceId !== summary.traceId; });
    this.rows.unshift(summary);
    if (this.rows.length > this.cap) {
      this.dropped += this.rows.length - this.cap;
      this.rows.length = this.cap;
    }
    return true;
  };

  TailBuffer.prototype.pause = function () { this.paused = true; };

  TailBuffer.prototype.resume = function () {
    this.paused = false;
    const waiting = this.queued;
    this.queued = [];
    waiting.forEach(this.add, this);
  };

  /** The summaries carried by a `traces.completed` event: one summary, a list, or {traces: [...]}. */
  function summariesOf(data) {
    if (!data) return [];
    if (Array.isArray(data)) return data;
    if (Array.isArray(data.traces)) return data.traces;
    return data.traceId ? [data] : [];
  }

  /** A banner text for a `traces.status` event's data, or null when the tail is healthy. */
  function statusText(status) {
    if (!status) return null;
    if (status.source_down) return "The trace source is down" + (status.error ? ": " + status.error : "") + " — no new traces arrive until it is back.";
    if (status.behind) {
      const age = status.cursor_age_s != null ? " by " + Math.round(status.cursor_age_s) + " s" : "";
      return "The live tail is behind" + age + (status.error ? " (" + status.error + ")" : "") + ".";
    }
    return null;
  }

  /**
   * Subscribe to the tail with `params` (an object of the page's search parameters).
   * handlers: {onTraces(summaries), onStatus(data), onError(data)}. Returns the live connection.
   */
  function connect(path, params, handlers) {
    let connection = null;
    connection = root.MeshscopeLive.connect(path, {
      onOpen: function () { connection.send({ subscribe: params }); },
      onEvent: function (message) {
        if (message.type === "traces.completed") handlers.onTraces(summariesOf(message.data));
        else if (message.type === "traces.status") handlers.onStatus(message.data);
        else if (message.type === "traces.error") handlers.onError(message.data);
      },
    });
    return connection;
  }

  root.MeshscopeTraces = root.MeshscopeTraces || {};
  root.MeshscopeTraces.tail = { TailBuffer: TailBuffer, summariesOf: summariesOf, statusText: statusText, connect: connect };
})(typeof window !== "undefined" ? window : globalThis);
