// Preselect the browser's own time zone in a time-zone list that nobody has chosen from yet, so that a newcomer does
// not have to scroll through hundreds of zones. What the person picks, or what the server filled in, always wins.
(function () {
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) return;
  document.querySelectorAll("[data-guess-timezone] select").forEach(function (select) {
    if (select.querySelector("option[selected]")) return;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) {
        select.selectedIndex = i;
        return;
      }
    }
  });
})();
