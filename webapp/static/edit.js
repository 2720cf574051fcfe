/* The edit form's map: drag the pin, or click, to set the venue's position; a postcode
   typed in places the pin at once, from assetmap's own postcode directory. */
"use strict";

(function () {
  var data = assetmap.readData("edit-data");
  var element = document.getElementById("pin-map");
  if (!element) { return; }
  var lat = document.getElementById("latitude");
  var lon = document.getElementById("longitude");
  var postcode = document.getElementById("postcode");
  var status = document.getElementById("pin-status");
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

  var asked = 0;
  function say(text) { if (status) { status.textContent = text; } }
  function fromPostcode() {
    var typed = postcode.value.trim();
    if (!typed || !data.postcodePoint) { return; }
    var mine = ++asked;
    fetch(data.postcodePoint + "?postcode=" + encodeURIComponent(typed), {
      headers: { "Accept": "application/json" }, credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (mine !== asked) { return; }  // a later postcode was typed meanwhile
      if (!answer.ok) { say(answer.body.error || "That postcode cannot be placed: check it."); return; }
      place([answer.body.latitude, answer.body.longitude]);
      map.setView([answer.body.latitude, answer.body.longitude], 16);
      say("The pin is at " + answer.body.postcode + ": drag it to the door if it is not quite right.");
    }).catch(function () {
      if (mine === asked) { say("The postcode could not be looked up just now: the pin is placed when you save."); }
    });
  }
  if (postcode) { postcode.addEventListener("change", fromPostcode); }
})();
