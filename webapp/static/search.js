/* The search page's map: the person, numbered markers matching the list, and "Search here" on a
   click. A click never searches by itself: it would throw away the postcode the CLW typed and
   close a popup only to start a new search. */
"use strict";

(function () {
  var data = assetmap.readData("map-data");
  var element = document.getElementById("map");
  if (!element) { return; }
  var map = assetmap.makeMap(element, data);
  var points = [];
  var markers = [];

  function highlight(number) {
    document.querySelectorAll(".result.highlight").forEach(function (n) { n.classList.remove("highlight"); });
    var item = document.getElementById("result-" + number);
    if (item) {
      item.classList.add("highlight");
      item.scrollIntoView({ block: "nearest" });
      item.focus({ preventScroll: true });
    }
  }

  (data.results || []).forEach(function (result, index) {
    if (result.latitude === null || result.longitude === null) { return; }
    var number = index + 1;
    var where = [result.latitude, result.longitude];
    var marker = L.marker(where, { icon: assetmap.numberIcon(number), title: number + ". " + result.name,
                                   keyboard: true, alt: number + ". " + result.name });
    marker.bindPopup(assetmap.popupFor(number + ". " + result.name, [result.location, result.address]));
    marker.on("click", function () { highlight(number); });
    marker.on("keypress", function (event) { if (event.originalEvent.key === "Enter") { highlight(number); } });
    markers.push(marker);
    points.push(where);
  });
  if (data.person) {
    var you = [data.person.lat, data.person.lon];
    L.circleMarker(you, { radius: 9, color: "#1d3557", weight: 3, fillColor: "#ffffff", fillOpacity: 1 })
      .bindTooltip("The person (approximate)").addTo(map);
    points.push(you);
  }
  function frame() {
    if (points.length > 1) { map.fitBounds(points, { padding: [30, 30], maxZoom: 16 }); }
    else if (points.length === 1) { map.setView(points[0], 15); }
    else { map.setView([55.8609, -4.2514], 11); }
  }
  frame();
  var moved = false;  // once the CLW has dragged or zoomed the map, it stays where they put it
  map.on("dragstart", function () { moved = true; });
  map.getContainer().addEventListener("wheel", function () { moved = true; }, { passive: true });
  var zoomButtons = map.getContainer().querySelector(".leaflet-control-zoom");
  if (zoomButtons) { zoomButtons.addEventListener("click", function () { moved = true; }); }
  assetmap.clusterLayer(map, markers, markers.length > 40 ? 36 : 0);

  /* The asset map: every active service in view, small and clustered, under the results. */
  function showEveryService() {
    var b = map.getBounds();
    var url = data.places_url + "?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
      .map(function (v) { return v.toFixed(5); }).join(",");
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (found) {
      var dots = found.places.map(function (place) {
        var dot = L.circleMarker([place.lat, place.lon], { radius: 5, weight: 1, color: "#333",
                                                            fillColor: place.current ? "#2a9d8f" : "#999", fillOpacity: 0.9 });
        var link = document.createElement("a");
        link.href = data.service_url.replace("ID", encodeURIComponent(place.id));
        link.textContent = place.name;
        dot.bindPopup(link);
        return dot;
      });
      assetmap.clusterLayer(map, dots, 40);
      var status = document.getElementById("map-status");
      if (status) { status.textContent = found.count + " services shown on the map" + (found.complete ? "" : " (zoom in for all)"); }
    });
  }
  var ready = data.all ? showEveryService() : Promise.resolve();
  ready.then(function () {
    window.assetmapReady = true;
    document.documentElement.dataset.ready = "true";  // for tests: no eval under the CSP
  });

  document.querySelectorAll(".result").forEach(function (item) {
    item.addEventListener("mouseenter", function () { item.classList.add("hover"); });
    item.addEventListener("mouseleave", function () { item.classList.remove("hover"); });
  });

  var form = document.getElementById("search-form");
  function searchAt(lat, lon) {
    // Every other field of the form (needs, how far, filters) is kept: only where changes.
    document.getElementById("postcode").value = "";
    document.getElementById("lat").value = lat.toFixed(5);
    document.getElementById("lon").value = lon.toFixed(5);
    form.submit();
  }
  // A click that closes an open popup only closes it. Leaflet closes the popup before the map's
  // click arrives, so whether one was open is noted when the press starts.
  var openPopups = 0;
  var hadPopup = false;
  map.on("popupopen", function () { openPopups += 1; });
  map.on("popupclose", function () { openPopups = Math.max(0, openPopups - 1); });
  ["pointerdown", "mousedown", "touchstart"].forEach(function (name) {
    map.getContainer().addEventListener(name, function () { hadPopup = openPopups > 0; }, true);
  });
  map.on("click", function (event) {
    if (hadPopup) { hadPopup = false; return; }
    var where = event.latlng;
    var box = document.createElement("div");
    box.className = "search-here";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = "Search here";
    button.addEventListener("click", function () { searchAt(where.lat, where.lng); });
    var hint = document.createElement("div");
    hint.className = "hint";
    hint.textContent = "With the same needs and filters; the postcode is cleared.";
    box.appendChild(button);
    box.appendChild(hint);
    L.popup({ closeButton: true, autoPan: true }).setLatLng(where).setContent(box).openOn(map);
    button.focus({ preventScroll: true });
  });
  var practice = document.getElementById("near-practice");
  if (practice) {
    practice.addEventListener("click", function () {
      searchAt(parseFloat(practice.dataset.lat), parseFloat(practice.dataset.lon));
    });
  }
  document.getElementById("postcode").addEventListener("input", function () {
    document.getElementById("lat").value = "";
    document.getElementById("lon").value = "";
  });
  // The shortlist above the map grows and shrinks it: keep every result in view.
  document.addEventListener("assetmap:shortlist", function () {
    map.invalidateSize({ pan: false });
    if (!moved) { frame(); }
  });
  window.assetmapSearch = { map: map, markers: markers };
})();
