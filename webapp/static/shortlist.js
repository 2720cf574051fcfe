/* The shortlist: services a CLW picks across searches, kept in this browser tab only
   (sessionStorage: it is about the person, so it is never sent to or kept on the server,
   and it ends with the tab or "End: clear the shortlist"). Names are put in as text. */
"use strict";

window.assetmapShortlist = (function () {
  var KEY = "assetmap.shortlist";

  function read() {
    try {
      var items = JSON.parse(window.sessionStorage.getItem(KEY) || "[]");
      return Array.isArray(items) ? items.filter(function (i) { return i && typeof i.id === "string"; }) : [];
    } catch (e) { return []; }
  }
  function write(items) { window.sessionStorage.setItem(KEY, JSON.stringify(items)); }
  function has(id) { return read().some(function (i) { return i.id === id; }); }
  function say(text) {
    var status = document.getElementById("shortlist-status");
    if (status) { status.textContent = text; }
  }

  function add(id, name, where) {
    var items = read();
    if (!items.some(function (i) { return i.id === id; })) { items.push({ id: id, name: name, where: where || "", picked: true }); }
    write(items);
    render();
    say("Added " + name + " to the shortlist.");
  }
  function remove(id) {
    var items = read();
    var gone = items.filter(function (i) { return i.id === id; })[0];
    write(items.filter(function (i) { return i.id !== id; }));
    render();
    if (gone) { say("Removed " + gone.name + " from the shortlist."); }
  }
  function pick(id, picked) {
    write(read().map(function (i) { return i.id === id ? Object.assign({}, i, { picked: picked }) : i; }));
    render();
  }
  function clear() {
    window.sessionStorage.removeItem(KEY);
    render();
    say("The shortlist is cleared.");
  }

  function render() {
    var items = read();
    var list = document.getElementById("shortlist-items");
    var form = document.getElementById("shortlist-form");
    var empty = document.getElementById("shortlist-empty");
    if (list) {
      list.textContent = "";
      items.forEach(function (item, index) {
        var li = document.createElement("li");
        var label = document.createElement("label");
        label.className = "toggle";
        var box = document.createElement("input");
        box.type = "checkbox";
        box.name = "id";
        box.value = item.id;
        box.checked = item.picked !== false;
        box.id = "shortlist-pick-" + index;
        box.addEventListener("change", function () { pick(item.id, box.checked); });
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + item.name));
        if (item.where) {  // two services of one name (a class in two halls) told apart
          var where = document.createElement("span");
          where.className = "where";
          where.textContent = item.where;
          label.appendChild(where);
        }
        var drop = document.createElement("button");
        drop.type = "button";
        drop.className = "link shortlist-remove";
        drop.textContent = "Remove";
        drop.setAttribute("aria-label", "Remove " + item.name + " from the shortlist");
        drop.addEventListener("click", function () {
          remove(item.id);
          var next = document.querySelector(".shortlist-remove") || document.getElementById("shortlist-title");
          if (next) { next.focus(); }
        });
        li.appendChild(label);
        li.appendChild(drop);
        list.appendChild(li);
      });
    }
    if (form) { form.hidden = items.length === 0; }
    if (empty) { empty.hidden = items.length > 0; }
    var printButton = document.getElementById("print-handout");
    if (printButton) {
      var picked = items.filter(function (i) { return i.picked !== false; }).length;
      printButton.disabled = picked === 0;
      printButton.textContent = picked ? "Print a handout (" + picked + ")" : "Print a handout: tick a service first";
    }
    document.querySelectorAll(".shortlist-toggle").forEach(function (button) {
      var on = items.some(function (i) { return i.id === button.dataset.id; });
      button.hidden = false;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Remove from shortlist" : "Add to shortlist";
      button.classList.toggle("on", on);
    });
    document.dispatchEvent(new CustomEvent("assetmap:shortlist"));  // the map beneath resizes
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".shortlist-toggle");
    if (!button) { return; }
    if (has(button.dataset.id)) { remove(button.dataset.id); } else { add(button.dataset.id, button.dataset.name, button.dataset.where); }
  });
  var clearButton = document.getElementById("shortlist-clear");
  if (clearButton) {
    clearButton.addEventListener("click", function () {
      clear();
      var title = document.getElementById("shortlist-title");
      if (title) { title.setAttribute("tabindex", "-1"); title.focus(); }
    });
  }
  render();
  return { read: read, add: add, remove: remove, clear: clear };
})();
