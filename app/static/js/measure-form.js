// The questionnaire, one question per screen (app/templates/measures/answer.html). Without this script the whole form
// shows on one page and works the same: this only hides the questions not on screen, adds Back and Next and the
// progress text, and still sends the one form. Answering PHQ-9 item 9 with anything but "Not at all" saves at once,
// so that the crisis resources come on the very next screen (CLINICAL.md safety rule 1).
(function () {
  var form = document.getElementById("measure-form");
  if (!form) return;
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-question]"));
  if (questions.length < 2) return;
  var items = questions.length - 1; // the last one is the unscored difficulty question
  var progress = form.querySelector("[data-progress]");
  var steps = form.querySelector("[data-steps]");
  var back = form.querySelector("[data-back]");
  var next = form.querySelector("[data-next]");
  var finish = form.querySelector("[data-submit] [name=finish]");
  var progressText = form.getAttribute("data-progress-text") || "{number} / {count}";
  var safety = form.getAttribute("data-safety-question");
  var current = 0;

  function checked(fieldset) {
    return fieldset.querySelector("input[type=radio]:checked");
  }

  function show(index, focus) {
    current = Math.max(0, Math.min(index, questions.length - 1));
    questions.forEach(function (fieldset, i) { fieldset.hidden = i !== current; });
    progress.textContent = current < items
      ? progressText.replace("{number}", current + 1).replace("{count}", items)
      : form.getAttribute("data-last-text");
    back.hidden = current === 0;
    next.hidden = current === questions.length - 1;
    finish.hidden = current !== questions.length - 1;
    if (focus) questions[current].focus();
  }

  function needsSupportNow(fieldset) {
    // A new answer other than 0 to item 9: save now, and the next screen is the crisis resources.
    if (!safety || fieldset.getAttribute("data-question") !== safety) return false;
    var answer = checked(fieldset);
    return answer !== null && answer.value !== "0" && !answer.defaultChecked;
  }

  questions.forEach(function (fieldset) { fieldset.setAttribute("tabindex", "-1"); });
  form.classList.add("measure-steps-on");
  progress.hidden = false;
  steps.hidden = false;

  back.addEventListener("click", function () { show(current - 1, true); });
  next.addEventListener("click", function () {
    if (needsSupportNow(questions[current])) {
      var save = document.createElement("input");
      save.type = "hidden";
      save.name = "save";
      save.value = "1";
      form.appendChild(save);
      form.submit();
      return;
    }
    show(current + 1, true);
  });
  // Choosing an answer is enough to go on: the next question follows after a moment (not on the last one).
  questions.forEach(function (fieldset, i) {
    fieldset.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.type === "radio" && i < questions.length - 1) {
        event.preventDefault();
        next.click();
      }
    });
  });

  // Start where something needs a look, else at the first question not answered yet (a form saved part way).
  var start = questions.findIndex(function (fieldset) { return fieldset.classList.contains("field-error"); });
  if (start === -1) start = questions.findIndex(function (fieldset) { return checked(fieldset) === null; });
  if (start === -1) start = questions.length - 1;
  show(start, false);
})();
