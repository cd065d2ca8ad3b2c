// "Select all" boxes: a box with data-select-all="name" checks every box of that name in its form.
document.querySelectorAll('input[data-select-all]').forEach(function (all) {
  all.addEventListener('click', function () {
    var name = all.dataset.selectAll;
    all.form.querySelectorAll('input[name="' + name + '"]').forEach(function (c) { c.checked = all.checked; });
  });
});
