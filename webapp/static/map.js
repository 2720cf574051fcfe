/* Shared map helpers. Everything from data is put in the page as text, never as HTML. */
"use strict";

window.assetmap = (function () {
  function readData(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function makeMap(element, data, options) {
    var map = L.map(element, Object.assign({ scrollWheelZoom: true }, options || {}));
    if (data.tiles) {
      // Tiles are a nicety: markers, areas and the scale work without them.
      L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 19 }).addTo(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    return map;
  }

  function numberIcon(number, extraClass) {
    var icon = document.createElement("span");
    icon.className = "map-number" + (extraClass ? " " + extraClass : "");
    icon.textContent = String(number);
    return L.divIcon({ html: icon, className: "map-number-wrap", iconSize: [28, 28], iconAnchor: [14, 14] });
  }

  function popupFor(title, lines) {
    var box = document.createElement("div");
    var heading = document.createElement("strong");
    heading.textContent = title;
    box.appendChild(heading);
    lines.filter(Boolean).forEach(function (line) {
      var p = document.createElement("div");
      p.textContent = line;
      box.appendChild(p);
    });
    return box;
  }

  /* Clustering on a screen grid: markers in the same cell of `pixels` are drawn as one count.
     Linear in the number of markers, so ten thousand redraw in milliseconds. */
  function clusterLayer(map, markers, pixels) {
    var layer = L.layerGroup().addTo(map);
    function redraw() {
      layer.clearLayers();
      if (!pixels) { markers.forEach(function (m) { layer.addLayer(m); }); return; }
      var cells = new Map();
      markers.forEach(function (marker) {
        var point = map.latLngToLayerPoint(marker.getLatLng());
        var key = Math.floor(point.x / pixels) + ":" + Math.floor(point.y / pixels);
        var cell = cells.get(key);
        if (cell) { cell.push(marker); } else { cells.set(key, [marker]); }
      });
      cells.forEach(function (members) {
        if (members.length === 1) { layer.addLayer(members[0]); return; }
        var bounds = L.latLngBounds(members.map(function (m) { return m.getLatLng(); }));
        var icon = document.createElement("span");
        icon.className = "map-cluster";
        icon.textContent = String(members.length);
        var cluster = L.marker(bounds.getCenter(), {
          icon: L.divIcon({ html: icon, className: "map-number-wrap", iconSize: [34, 34] }),
          title: members.length + " services here: zoom in", keyboard: false
        });
        cluster.on("click", function () { map.fitBounds(bounds.pad(0.5)); });
        layer.addLayer(cluster);
      });
    }
    map.on("zoomend", redraw);
    redraw();
    return { layer: layer, redraw: redraw };
  }

  return { readData: readData, makeMap: makeMap, numberIcon: numberIcon, popupFor: popupFor,
           clusterLayer: clusterLayer };
})();
