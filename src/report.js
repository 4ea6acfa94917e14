// The incident report's only script (src/html.rs inlines it): a click on a column header (or Enter on it)
// sorts the suspicious calls by that column, again to reverse; the filter box keeps the rows holding every
// word typed. It moves and hides the rendered rows and writes only counts, never a value from a record.
(function () {
  'use strict';
  var table = document.getElementById('calls');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var shown = document.getElementById('shown');
  headers.forEach(function (th, column) {
    th.tabIndex = 0;
    function sort() {
      var descending = th.getAttribute('aria-sort') === 'ascending';
      headers.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      var numeric = th.getAttribute('data-type') === 'num';
      var value = function (row) {
        var cell = row.cells[column].textContent;
        return numeric ? Number(cell) : cell;
      };
      rows.sort(function (a, b) {
        var x = value(a), y = value(b);
        var order = x < y ? -1 : x > y ? 1 : 0;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        sort();
      }
    });
  });
  var filter = document.getElementById('filter');
  filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var keep = words.every(function (word) { return text.indexOf(word) !== -1; });
      row.hidden = !keep;
      count += keep ? 1 : 0;
    });
    shown.textContent = count + ' of ' + rows.length;
  });
})();
