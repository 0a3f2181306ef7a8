// The zone picker (a text box with suggestions, app/accounts/forms.py ZoneInput): the browser's own zone goes first
// among the suggestions, and into a box that is still empty. What the person typed, or the server filled in, stays.
(function () {
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) return;

  function offered(list) {
    // Browsers may name a zone by an older alias ("Asia/Calcutta"): each suggestion lists its aliases in data-also.
    for (var i = 0; i < list.options.length; i++) {
      var option = list.options[i];
      var also = " " + (option.getAttribute("data-also") || "") + " ";
      if (option.value === zone || also.indexOf(" " + zone + " ") !== -1) return option;
    }
    return null;
  }

  document.querySelectorAll("input[data-zone-picker]").forEach(function (input) {
    var list = input.list;
    if (!list) return;
    var option = offered(list);
    if (!option) return;
    list.insertBefore(option, list.firstChild);
    if (!input.value) input.value = option.value;
  });
})();
