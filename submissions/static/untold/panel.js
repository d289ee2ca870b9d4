/* Keyboard shortcuts in the moderators' reading view. The page works without it. */
(function () {
  "use strict";
  var story = document.getElementById("story");
  if (!story) return;

  function press(id) {
    var button = document.getElementById(id);
    if (button) button.click();
  }

  var keys = {
    a: function () { press("approve-next"); },
    r: function () { press("reject-next"); },
    s: function () { press("skip"); },
    h: function () { story.open = !story.open; },
    b: function () { story.classList.toggle("blurred"); },
    e: function () {
      var text = document.getElementById("id_campaign_text");
      if (text) text.focus();
    }
  };

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
    var target = event.target;
    var tag = target && target.tagName;
    // Escape leaves a field, so that the keys work again.
    if (event.key === "Escape" && target && target.blur) { target.blur(); return; }
    // Typing in a field is typing, never a shortcut.
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    var action = keys[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  });
})();
