/* A small map on the handout: numbered places only. */
"use strict";

(function () {
  var data = assetmap.readData("handout-data");
  var element = document.getElementById("handout-map");
  if (!element || !data.places || !data.places.length) { return; }
  var map = assetmap.makeMap(element, data, { zoomControl: false, attributionControl: true });
  var points = data.places.map(function (place) {
    L.marker([place.lat, place.lon], { icon: assetmap.numberIcon(place.number), keyboard: false,
                                      title: "Place " + place.number }).addTo(map);
    return [place.lat, place.lon];
  });
  if (points.length > 1) { map.fitBounds(points, { padding: [25, 25], maxZoom: 15 }); }
  else { map.setView(points[0], 15); }
  document.getElementById("print").addEventListener("click", function () { window.print(); });
})();
