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

  /* Simple clustering: markers closer than `pixels` on screen are drawn as one count. */
  function clusterLayer(map, markers, pixels) {
    var layer = L.layerGroup().addTo(map);
    function redraw() {
      layer.clearLayers();
      var groups = [];
      markers.forEach(function (marker) {
        var point = map.latLngToLayerPoint(marker.getLatLng());
        var group = groups.find(function (g) { return g.point.distanceTo(point) < pixels; });
        if (group) { group.members.push(marker); } else { groups.push({ point: point, members: [marker] }); }
      });
      groups.forEach(function (group) {
        if (group.members.length === 1) { layer.addLayer(group.members[0]); return; }
        var bounds = L.latLngBounds(group.members.map(function (m) { return m.getLatLng(); }));
        var icon = document.createElement("span");
        icon.className = "map-cluster";
        icon.textContent = String(group.members.length);
        var cluster = L.marker(bounds.getCenter(), {
          icon: L.divIcon({ html: icon, className: "map-number-wrap", iconSize: [34, 34] }),
          title: group.members.length + " services here: zoom in", keyboard: true
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
