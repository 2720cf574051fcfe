/* The edit form's map: drag the pin, or click, to set the venue's position. */
"use strict";

(function () {
  var data = assetmap.readData("edit-data");
  var element = document.getElementById("pin-map");
  if (!element) { return; }
  var lat = document.getElementById("latitude");
  var lon = document.getElementById("longitude");
  var map = assetmap.makeMap(element, data);
  var start = lat.value && lon.value ? [parseFloat(lat.value), parseFloat(lon.value)] : null;
  map.setView(start || [55.8609, -4.2514], start ? 16 : 11);
  var pin = null;
  function place(where) {
    if (!pin) {
      pin = L.marker(where, { draggable: true, title: "The venue: drag to adjust", keyboard: true }).addTo(map);
      pin.on("dragend", function () { place(pin.getLatLng()); });
    }
    pin.setLatLng(where);
    var point = L.latLng(where);
    lat.value = point.lat.toFixed(6);
    lon.value = point.lng.toFixed(6);
  }
  if (start) { place(start); }
  map.on("click", function (event) { place(event.latlng); });
})();
