/* Progressive help only: every page works without this file. */
(function () {
  "use strict";
  var exitLink = document.getElementById("quick-exit");

  function leave() {
    document.body.hidden = true;
    document.title = "";
    // replace(): this page is dropped from the history instead of kept behind "Back".
    window.location.replace(exitLink ? exitLink.getAttribute("href") : "/exit/");
  }

  if (exitLink) {
    exitLink.addEventListener("click", function (event) {
      event.preventDefault();
      leave();
    });
  }

  // Shift pressed three times in a row within a second leaves, as GOV.UK's "Exit this
  // page" does. Any other key starts the count again, so capitals never trigger it.
  var shifts = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Shift") { shifts = []; return; }
    if (event.repeat) return;
    var now = Date.now();
    shifts = shifts.filter(function (t) { return now - t < 1000; });
    shifts.push(now);
    if (shifts.length >= 3) leave();
  });

  var counter = document.getElementById("counter");
  var text = document.getElementById("id_text");
  if (counter && text) {
    var limit = parseInt(counter.getAttribute("data-limit"), 10);
    var update = function () {
      // Characters as the server counts them: code points, not UTF-16 units.
      var count = Array.from(text.value.replace(/\r\n/g, "\n")).length;
      var over = count - limit;
      counter.textContent = over > 0
        ? counter.getAttribute("data-over").replace("%(over)s", over)
        : counter.getAttribute("data-template").replace("%(count)s", count).replace("%(limit)s", limit);
      counter.className = over > 0 ? "over" : "";
      counter.setAttribute("role", over > 0 ? "alert" : "status");
    };
    text.addEventListener("input", update);
    update();
  }

  var focused = document.querySelector("[autofocus]");
  if (focused && document.activeElement !== focused) focused.focus();

  var body = document.body;
  // Booth mode, thanks page: back to an empty form (the meta refresh does it without JS).
  var returnTo = body.getAttribute("data-return-to");
  if (returnTo) {
    setTimeout(function () { window.location.replace(returnTo); },
      parseInt(body.getAttribute("data-return-seconds"), 10) * 1000);
  }

  // Booth mode, form: after three minutes untouched it warns, and thirty seconds later
  // starts again empty. Any touch or key keeps it (WCAG 2.2.1: warn, let her extend).
  var warning = document.getElementById("idle-warning");
  if (body.getAttribute("data-kiosk") === "1" && warning) {
    var form = document.querySelector("form[method=post]");
    var warnTimer, clearTimer;
    var restart = function () {
      clearTimeout(warnTimer);
      clearTimeout(clearTimer);
      warning.hidden = true;
      warnTimer = setTimeout(function () {
        warning.hidden = false;
        clearTimer = setTimeout(function () {
          if (form) form.reset();
          window.location.replace(form ? form.getAttribute("action") : "/");
        }, 30000);
      }, 180000);
    };
    ["input", "keydown", "pointerdown", "touchstart", "scroll"].forEach(function (name) {
      document.addEventListener(name, restart, { passive: true });
    });
    restart();
  }
})();
