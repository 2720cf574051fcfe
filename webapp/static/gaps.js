/* The gap map: a choropleth of the walk to the nearest service, SIMD deciles, services, gaps outlined. */
"use strict";

(function () {
  var data = assetmap.readData("gap-data");
  var element = document.getElementById("gap-map");
  if (!element) { return; }
  var map = assetmap.makeMap(element, data);
  var walkColours = [[10, "#1a9850"], [20, "#91cf60"], [30, "#fee08b"], [45, "#fc8d59"], [Infinity, "#d73027"]];
  var decileColours = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#d1e5f0", "#92c5de", "#4393c3",
                       "#2166ac", "#053061"];

  function walkColour(minutes) {
    if (minutes === null || minutes === undefined) { return "#bbbbbb"; }
    for (var i = 0; i < walkColours.length; i++) { if (minutes < walkColours[i][0]) { return walkColours[i][1]; } }
    return "#d73027";
  }
  function describe(p) {
    return assetmap.popupFor((p.area_name || p.area_code), [
      p.area_code, "People: " + p.population,
      p.deprivation_decile ? "SIMD decile: " + p.deprivation_decile : null,
      "Walk to nearest: about " + Math.round(p.nearest_walk_minutes) + " min",
      "Services within catchment: " + p.services_within,
      "2SFCA: " + Number(p.fca2).toFixed(3) + " per 1,000",
      p.unmet_searches ? "Searches that found nothing: " + p.unmet_searches : null,
      p.gap ? "Gap: " + p.reason : "Not flagged"]);
  }
  var access = L.geoJSON(data.areas, {
    style: function (f) {
      return { className: "area" + (f.properties.gap ? " gap" : ""), color: f.properties.gap ? "#b00020" : "#555",
               weight: f.properties.gap ? 3 : 0.6, fillColor: walkColour(f.properties.nearest_walk_minutes),
               fillOpacity: 0.65 };
    },
    onEachFeature: function (f, layer) { layer.bindPopup(describe(f.properties)); }
  }).addTo(map);
  var deciles = L.geoJSON(data.areas, {
    style: function (f) {
      var d = f.properties.deprivation_decile;
      return { className: "decile", color: "#333", weight: 0.5, fillOpacity: 0.6,
               fillColor: d ? decileColours[d - 1] : "#cccccc" };
    },
    onEachFeature: function (f, layer) { layer.bindPopup(describe(f.properties)); }
  });
  var services = L.layerGroup((data.services || []).map(function (s) {
    var link = document.createElement("a");
    link.href = data.service_url.replace("ID", encodeURIComponent(s.id));
    link.textContent = s.name;
    return L.circleMarker([s.lat, s.lon], { radius: 5, color: "#000", weight: 1, fillColor: "#ffffff",
                                             fillOpacity: 1, className: "service" }).bindPopup(link);
  })).addTo(map);
  L.control.layers({ "Walk to the nearest service": access, "SIMD decile (1 = most deprived)": deciles },
                   { "Services": services }, { collapsed: false }).addTo(map);
  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend");
    var title = document.createElement("strong");
    title.textContent = "Walk to nearest";
    box.appendChild(title);
    [["under 10 min", 0], ["10-20", 1], ["20-30", 2], ["30-45", 3], ["45+", 4]].forEach(function (item) {
      var row = document.createElement("div");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = walkColours[item[1]][1];
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(" " + item[0]));
      box.appendChild(row);
    });
    return box;
  };
  legend.addTo(map);
  var bounds = access.getBounds();
  if (bounds.isValid()) { map.fitBounds(bounds); } else { map.setView([55.8609, -4.2514], 11); }
  window.assetmapReady = true;
  document.documentElement.dataset.ready = "true";  // for tests: no eval under the CSP
})();
