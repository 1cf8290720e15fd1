// Optional: click a column heading of a sortable table to sort by it (again to reverse).
// Pages read the same without JavaScript.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead ? table.tHead.rows[0].cells : [];
  Array.prototype.forEach.call(heads, function (th, col) {
    th.tabIndex = 0;
    th.title = "Sort by this column";
    var sort = function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      var key = function (row) {
        var text = row.cells[col] ? row.cells[col].textContent.trim() : "";
        var n = parseFloat(text.replace(/[,%]/g, ""));
        return isNaN(n) || !/^[-\d.,%\s]+$/.test(text) ? text.toLowerCase() : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return x < y ? -dir : x > y ? dir : 0;
      });
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      rows.forEach(function (row) { body.appendChild(row); });
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
  });
});

// Optional: a filter box above each sortable table that hides rows not containing the text.
document.querySelectorAll("table.sortable").forEach(function (table, n) {
  var body = table.tBodies[0];
  if (!body || body.rows.length < 10) { return; }
  var input = document.createElement("input");
  input.type = "search";
  input.placeholder = "Filter rows";
  input.className = "filter";
  input.setAttribute("aria-label", "Filter the rows of the table below");
  input.id = "filter-" + n;
  input.addEventListener("input", function () {
    var needle = input.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });
  var wrap = table.parentNode;
  wrap.parentNode.insertBefore(input, wrap);
});
