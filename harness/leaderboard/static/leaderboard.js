(function () {
  var table = document.getElementById("board");
  if (!table) return;
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    if (!th.querySelector("button")) return;
    th.addEventListener("click", function () {  // the whole header; its button gives keyboard access
      var asc = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var numeric = th.dataset.type === "num";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        if (x === "" || y === "") {  // missing values last, whichever the direction
          if (x !== y) return x === "" ? 1 : -1;
        } else {
          var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          if (d !== 0) return asc ? d : -d;
        }
        return parseInt(a.dataset.rank, 10) - parseInt(b.dataset.rank, 10);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
