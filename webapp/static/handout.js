/* The handout: a small map (the area's outline and the numbered places, readable without
   tiles) and, on screen only, whether it fits one A4 page and what to remove if not.
   The handout is laid out at print size on screen too (mm and pt), so what is measured
   here is what prints. */
"use strict";

(function () {
  var data = assetmap.readData("handout-data");
  var PRINTABLE_MM = 297 - 2 * 12;  // A4 less the @page margins in app.css
  var MM = 96 / 25.4;  // CSS pixels per millimetre

  function drawMap() {
    var element = document.getElementById("handout-map");
    if (!element || !data.places || !data.places.length) { return; }
    var map = assetmap.makeMap(element, data, { zoomControl: false, attributionControl: !!data.tiles,
                                                dragging: false, scrollWheelZoom: false, keyboard: false,
                                                zoomSnap: 0.1 });  // as close as the places allow
    var points = data.places.map(function (place) { return [place.lat, place.lon]; });
    var bounds = L.latLngBounds(points);
    if (data.outline) {
      var outline = L.geoJSON(data.outline, { interactive: false,
        style: { color: "#1d4f91", weight: 2, fillColor: "#d9e4f2", fillOpacity: data.tiles ? 0.15 : 0.6 } }).addTo(map);
      // The whole area when the places spread across it; else around the places, still showing
      // where the area's edge is when it is near.
      var area = outline.getBounds();
      var spread = Math.max(bounds.getNorth() - bounds.getSouth(), (bounds.getEast() - bounds.getWest()) / 2);
      var size = Math.max(area.getNorth() - area.getSouth(), (area.getEast() - area.getWest()) / 2);
      if (spread > size / 4) { bounds = area.extend(bounds); }
    }
    data.places.forEach(function (place) {
      L.marker([place.lat, place.lon], { icon: assetmap.numberIcon(place.number), keyboard: false,
                                         interactive: false }).addTo(map);
    });
    if (points.length > 1 || data.outline && !bounds.equals(L.latLngBounds(points))) {
      // The caption sits over the top of the map: keep the places clear of it.
      map.fitBounds(bounds, { paddingTopLeft: [20, 38], paddingBottomRight: [20, 16], maxZoom: 16 });
    } else { map.setView(points[0], 14); }
  }

  function names(sections) {
    return sections.map(function (s) { return s.dataset.number + ". " + s.querySelector(".item-name").textContent; });
  }

  function checkFit() {
    var handout = document.getElementById("handout");
    var fit = document.getElementById("fit");
    if (!handout || !fit) { return; }
    if (Math.abs(handout.getBoundingClientRect().width - 186 * MM) > 2) {
      fit.textContent = "Open the handout on a wider screen to see whether it fits one A4 page.";
      return;
    }
    var height = handout.getBoundingClientRect().height;
    var page = PRINTABLE_MM * MM;
    var fits = height <= page;
    handout.dataset.fits = fits ? "true" : "false";
    fit.classList.toggle("problem", !fits);
    if (fits) {
      fit.textContent = "This handout fits one A4 page.";
      return;
    }
    var sections = Array.prototype.slice.call(document.querySelectorAll(".handout .item"));
    var longest = sections.slice().sort(function (a, b) {
      return b.getBoundingClientRect().height - a.getBoundingClientRect().height; })[0];
    var descriptions = document.getElementById("show-descriptions");
    var over = Math.round((height - page) / MM);
    fit.textContent = "This handout does not fit one A4 page (about " + over + " mm too long). " +
      "Remove one service from it (untick it on the shortlist" + (longest ? "; the longest is " + names([longest])[0] : "") +
      ")" + (descriptions && descriptions.checked ? ", or shorten it: untick \u201cShow what each service does\u201d." : ".");
  }

  drawMap();
  var toggle = document.getElementById("show-descriptions");
  if (toggle) {
    toggle.addEventListener("change", function () {
      document.body.classList.toggle("no-descriptions", !toggle.checked);
      checkFit();
    });
  }
  var printButton = document.getElementById("print");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
  (document.fonts && document.fonts.ready ? document.fonts.ready : Promise.resolve()).then(function () {
    checkFit();
    document.documentElement.dataset.ready = "true";
  });
})();
