// A keyboard-wedge scanner types the code and presses Enter: keep the field focused and
// empty so the next scan goes straight in.
(function () {
  var input = document.getElementById('token');
  if (input) { input.value = ''; input.focus(); }
  document.addEventListener('click', function (e) { if (e.target.tagName !== 'INPUT' && e.target.tagName !== 'BUTTON' && input) input.focus(); });
})();
