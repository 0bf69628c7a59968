// Routes pages: follow `routes.changed` events live. refreshOnChange(id) re-reads the page and
// swaps the element `id` (lists, object pages: no reload, scroll kept); bannerOnChange(id) tells a
// user filling a form that the object changed meanwhile; evenly(buttonId) spreads weights evenly.
(function () {
  "use strict";
  let events = 0;

  function onChange(handler) {
    return MeshscopeLive.connect("/ws/routes/", {
      onEvent: function (message) {
        if (message.type !== "routes.changed") return;
        events += 1;
        document.body.dataset.routesEvents = String(events);
        handler(message.data);
      },
    });
  }

  function refreshOnChange(id) {
    onChange(function () {
      fetch(location.href, { headers: { Accept: "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
        .then(function (html) {
          const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
          const current = document.getElementById(id);
          if (fresh && current) current.innerHTML = fresh.innerHTML;
        })
        .catch(function () { /* the next event or a reload will catch up */ });
    });
  }

  function bannerOnChange(id) {
    onChange(function (data) {
      const banner = document.getElementById(id);
      if (!banner) return;
      const names = (data.revisions || []).map(function (r) {
        return r.kind + " " + r.namespace + "/" + r.name + " (" + (r.user || r.source) + ")";
      });
      banner.textContent = "Changed meanwhile: " + names.join(", ") +
        ". Applying now shows both versions so nothing is lost; reload to start from the new one.";
      banner.hidden = false;
    });
  }

  function evenly(buttonId) {
    const button = document.getElementById(buttonId);
    if (!button) return;
    button.addEventListener("click", function () {
      const inputs = Array.from(document.querySelectorAll("input[name^='weight_']"));
      const base = Math.floor(100 / inputs.length);
      inputs.forEach(function (input, i) { input.value = base + (i < 100 - base * inputs.length ? 1 : 0); });
    });
  }

  window.MeshscopeRoutes = { refreshOnChange: refreshOnChange, bannerOnChange: bannerOnChange, evenly: evenly, onChange: onChange };
})();
