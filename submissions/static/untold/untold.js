/* Progressive help only: every page works without this file. */
(function () {
  "use strict";
  var d = document, body = d.body, byId = d.getElementById.bind(d);
  var exit = byId("quick-exit");

  function leave() {
    body.hidden = true;
    d.title = "";
    // replace(): the page leaves the history instead of waiting behind "Back".
    location.replace(exit ? exit.getAttribute("href") : "/exit/");
  }
  if (exit) exit.addEventListener("click", function (e) { e.preventDefault(); leave(); });

  // Shift three times within a second leaves (GOV.UK's "Exit this page"); any other key
  // starts again, so capitals never do. Said only where a hovering, fine pointer
  // suggests a physical keyboard.
  var shifts = [], hint = byId("shift-hint");
  d.addEventListener("keydown", function (e) {
    if (e.key !== "Shift") { shifts = []; return; }
    if (e.repeat) return;
    var now = Date.now();
    shifts = shifts.filter(function (t) { return now - t < 1000; }).concat(now);
    if (shifts.length > 2) leave();
  });
  if (hint && matchMedia("(hover: hover) and (pointer: fine)").matches) hint.hidden = false;

  // One sentence read with the field; it speaks up by itself only when over the limit.
  var counter = byId("counter"), text = byId("id_text");
  if (counter && text) {
    var get = counter.getAttribute.bind(counter), limit = +get("data-limit");
    var shown = function (n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, get("data-separator")); };
    var update = function () {
      // Code points, as the server counts, not UTF-16 units.
      var count = Array.from(text.value.replace(/\r\n/g, "\n")).length, over = count - limit;
      counter.textContent = over > 0 ? get("data-over").replace("%(over)s", shown(over))
        : get("data-template").replace("%(count)s", shown(count)).replace("%(limit)s", shown(limit));
      counter.className = over > 0 ? "over" : "";
      if (over > 0) counter.setAttribute("role", "alert"); else counter.removeAttribute("role");
    };
    text.addEventListener("input", update);
    update();
  }

  var copy = byId("copy-code"), code = byId("code");
  if (copy && code && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var status = byId("copy-status");
      navigator.clipboard.writeText(code.textContent).then(function () {
        status.textContent = status.getAttribute("data-copied");
      });
    });
  }

  var focused = d.querySelector("[autofocus]");
  if (focused && d.activeElement !== focused) focused.focus();

  // A booth: left untouched, an overlay counts down, then it starts again empty. A touch
  // or a key keeps the page (WCAG 2.2.1: warn, let her extend).
  var warning = byId("idle-warning");
  if (warning) {
    var left = byId("idle-countdown"), idle, tick, before;
    var warn = function () {
      var seconds = +body.getAttribute("data-warning");
      left.textContent = seconds;
      before = d.activeElement;
      warning.hidden = false;
      byId("idle-stay").focus();
      tick = setInterval(function () {
        left.textContent = --seconds;
        if (seconds > 0) return;
        clearInterval(tick);
        location.replace(body.getAttribute("data-start"));
      }, 1000);
    };
    var restart = function () {
      clearTimeout(idle);
      clearInterval(tick);
      if (!warning.hidden) {
        warning.hidden = true;
        if (before) before.focus();
      }
      idle = setTimeout(warn, body.getAttribute("data-idle") * 1000);
    };
    ["input", "keydown", "pointerdown", "touchstart", "scroll"].forEach(function (name) {
      d.addEventListener(name, restart, { passive: true });
    });
    restart();
  }
})();
