// Shows the fields of the chosen outcome only (without scripts every field shows; the
// server ignores those of other outcomes). Hidden fields are disabled too, so that a tube
// typo in a hidden fieldset cannot block the browser's check of the form.
// A keyboard-wedge scanner ends each barcode with Enter: in a tube field it moves to the
// next member's field (or to Save) instead of sending the form half filled.
document.querySelectorAll('form.door-outcome').forEach(function (f) {
  var sel = f.querySelector('select[name=outcome]');
  function show() {
    f.querySelectorAll('fieldset[data-outcome]').forEach(function (fs) {
      fs.hidden = fs.dataset.outcome !== sel.value;
      fs.disabled = fs.hidden;
    });
  }
  sel.addEventListener('change', show);
  show();
  var tubes = Array.prototype.slice.call(f.querySelectorAll('input.tube'));
  tubes.forEach(function (input, i) {
    input.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      input.reportValidity();
      (tubes[i + 1] || f.querySelector('button')).focus();
    });
  });
});
// After a refusal: to the field it is about (or the message), not the top of the page.
(function () {
  var err = document.querySelector('[data-testid=field-error]');
  if (!err) return;
  var bad = document.querySelector('[aria-invalid=true]');
  if (bad) bad.focus({ preventScroll: true });
  err.scrollIntoView({ block: 'center' });
})();
