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

  // Shift pressed three times within a second leaves, as GOV.UK's "Exit this page" does.
  var shifts = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Shift" || event.repeat) return;
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
      var count = text.value.replace(/\r\n/g, "\n").length;
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

  // Booth mode: a form left untouched for three minutes starts again empty.
  if (document.body.getAttribute("data-kiosk") === "1") {
    var form = document.querySelector("form[method=post]");
    var idleMs = parseInt(document.body.getAttribute("data-idle-seconds") || "180", 10) * 1000;
    var timer;
    var restart = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (form) form.reset();
        window.location.replace(form ? form.getAttribute("action") : "/");
      }, idleMs);
    };
    ["input", "keydown", "pointerdown", "touchstart", "scroll"].forEach(function (name) {
      document.addEventListener(name, restart, { passive: true });
    });
    restart();
  }
})();
