// BanGUI's only script: theme switch and keyboard shortcuts. Loaded as a
// file (the CSP forbids inline scripts); everything else is HTMX attributes.
(function () {
  "use strict";
  var root = document.documentElement;
  // Three modes, in turn: auto (follows the system), light, dark. "auto"
  // stores nothing, so the system's setting wins again.
  var MODES = ["auto", "light", "dark"];
  var ICONS = { auto: "\u25D0", light: "\u2600", dark: "\u263E" };
  var mode = "auto";
  try { mode = localStorage.getItem("bangui-theme") || "auto"; } catch (e) { /* private mode */ }
  if (MODES.indexOf(mode) < 0) { mode = "auto"; }

  function following(current) { return MODES[(MODES.indexOf(current) + 1) % MODES.length]; }

  function apply(current) {
    if (current === "auto") { root.removeAttribute("data-theme"); }
    else { root.setAttribute("data-theme", current); }
    var button = document.querySelector("[data-theme-switch]");
    if (!button) { return; }
    var words = "Theme: " + (current === "auto" ? "auto (as the system)" : current) +
      "; switch to " + following(current);
    button.textContent = ICONS[current];
    button.setAttribute("aria-label", words);
    button.setAttribute("title", words);
  }
  apply(mode);

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-theme-switch]")) { return; }
    mode = following(mode);
    apply(mode);
    try {
      if (mode === "auto") { localStorage.removeItem("bangui-theme"); }
      else { localStorage.setItem("bangui-theme", mode); }
    } catch (e) { /* ignore */ }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-history-back]")) { history.back(); }
  });

  // An answer swapped in out of band beside a form low on the page (the
  // dashboard's "Ban an IP") is brought into view, once the rest of the
  // response (the ban table above it) is in place.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var el = event.target.closest && event.target.closest("[data-reveal]");
    if (!el) { return; }
    window.requestAnimationFrame(function () { el.scrollIntoView({ block: "nearest" }); });
  });

  // "/" focuses the IP search box, as in most admin tools.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) { return; }
    var box = document.querySelector("[data-ip-search]");
    if (box) { event.preventDefault(); box.focus(); }
  });

  // An HTMX request that failed in a way no fragment answers (403, 404, 500,
  // the server down): say so where the user looks, instead of nothing.
  function requestFailed(text) {
    var main = document.getElementById("main");
    if (!main) { return; }
    var note = document.getElementById("request-error");
    if (!note) {
      note = document.createElement("p");
      note.id = "request-error";
      note.className = "banner banner-bad";
      note.setAttribute("role", "alert");
      main.insertBefore(note, main.firstChild);
    }
    note.textContent = text;
    note.scrollIntoView({block: "nearest"});
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var reason = xhr.status === 403 ? "you are not allowed to do that"
      : xhr.status === 404 ? "that page or item does not exist (any more)"
      : xhr.status === 503 ? "the database is busy or restarting; try again in a few seconds"
      : "the server failed (HTTP " + xhr.status + ")";
    requestFailed("Not done: " + reason + ". Reload the page to see the current state.");
  });
  document.addEventListener("htmx:sendError", function () {
    requestFailed("Not done: BanGUI did not answer (network or server down). Try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var note = document.getElementById("request-error");
    if (note) { note.remove(); }
  });

  // "N new bans — show" above the ban table: ask every 15 s while the tab is
  // visible (never when hidden), without reloading or moving the page.
  var NEW_BANS_EVERY = 15000;
  function pollNewBans() {
    var slot = document.getElementById("new-bans");
    if (!slot || document.visibilityState !== "visible") { return; }
    var url = slot.getAttribute("data-new-bans-url");
    fetch(url, {headers: {"HX-Request": "true"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (document.getElementById("new-bans") !== slot) { return; }  // table replaced meanwhile
        if (slot.innerHTML !== html) {
          slot.innerHTML = html;
          if (window.htmx) { window.htmx.process(slot); }
        }
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }
  setInterval(pollNewBans, NEW_BANS_EVERY);
  document.addEventListener("visibilitychange", pollNewBans);

  // Keyboard users keep their place: after a sort re-renders the ban table,
  // focus the same column's sort link again.
  var lastSort = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.target.closest && event.target.closest(".sort-link");
    lastSort = link ? link.textContent.trim().split(" ")[0] : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!lastSort) { return; }
    var links = document.querySelectorAll("#ban-table .sort-link");
    for (var i = 0; i < links.length; i++) {
      if (links[i].textContent.trim().split(" ")[0] === lastSort) { links[i].focus(); break; }
    }
    lastSort = null;
  });

  // The config editor's line numbers follow its text and its scrolling.
  function syncGutter(area) {
    var gutter = area.parentNode.querySelector("[data-gutter]");
    if (!gutter) { return; }
    var lines = area.value.split("\n").length;
    if (gutter.getAttribute("data-lines") !== String(lines)) {
      var out = [];
      for (var i = 1; i <= lines; i++) { out.push(i); }
      gutter.textContent = out.join("\n");
      gutter.setAttribute("data-lines", String(lines));
    }
    gutter.scrollTop = area.scrollTop;
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches(".editor-wrap textarea")) { syncGutter(event.target); }
  });
  document.addEventListener("scroll", function (event) {
    if (event.target.matches && event.target.matches(".editor-wrap textarea")) { syncGutter(event.target); }
  }, true);
})();
