/* The gap map: the walk to the nearest service per area (polygons, or circles for data zones with
   only a centroid), SIMD deciles, council areas, services, unmet searches; gaps outlined in red. */
"use strict";

(function () {
  var data = assetmap.readData("gap-data");
  var element = document.getElementById("gap-map");
  if (!element) { return; }
  var map = assetmap.makeMap(element, data);
  var walkColours = [[10, "#1a9850"], [20, "#91cf60"], [30, "#fee08b"], [45, "#fc8d59"], [Infinity, "#d73027"]];
  var decileColours = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#d1e5f0", "#92c5de", "#4393c3",
                       "#2166ac", "#053061"];
  var features = (data.areas && data.areas.features) || [];
  var circles = features.filter(function (f) { return f.geometry && f.geometry.type === "Point"; }).length;

  function walkColour(minutes) {
    if (minutes === null || minutes === undefined) { return "#bbbbbb"; }
    for (var i = 0; i < walkColours.length; i++) { if (minutes < walkColours[i][0]) { return walkColours[i][1]; } }
    return "#d73027";
  }
  function describe(p, point) {
    return assetmap.popupFor((p.area_name || p.area_code), [
      p.area_code, "People: " + p.population,
      p.deprivation_decile ? "SIMD decile: " + p.deprivation_decile : null,
      p.nearest_walk_minutes === null ? "No service found" :
        "Walk to nearest: about " + Math.round(p.nearest_walk_minutes) + " min",
      "Services within catchment: " + p.services_within,
      "2SFCA: " + Number(p.fca2).toFixed(3) + " per 1,000",
      p.unmet_searches ? "Searches that found nothing: " + p.unmet_searches : null,
      point ? "No boundary held: drawn at the data zone's centre, sized by population" : null,
      p.gap ? "Gap: " + p.reason : "Not flagged"]);
  }
  // A data zone with only a centroid: a circle whose area grows with its population.
  function circleFor(f, latlng) {
    var radius = 2 + Math.sqrt(Math.max(f.properties.population || 0, 0)) / 5;
    return L.circleMarker(latlng, { radius: Math.min(radius, 40) });  // a whole council: 40 px at most
  }
  function areaLayer(style, className) {
    return L.geoJSON(data.areas, {
      pointToLayer: circleFor,
      style: function (f) {
        var s = style(f);
        s.className = className + (f.geometry.type === "Point" ? " centroid" : "") + (f.properties.gap ? " gap" : "");
        return s;
      },
      onEachFeature: function (f, layer) {  // made when opened: hundreds of areas need no DOM up front
        layer.bindPopup(function () { return describe(f.properties, f.geometry.type === "Point"); });
      }
    });
  }
  var access = areaLayer(function (f) {
    var point = f.geometry.type === "Point";
    return { color: f.properties.gap ? "#b00020" : (point ? "#ffffff" : "#555"),
             weight: f.properties.gap ? 3 : (point ? 1 : 0.6),
             fillColor: walkColour(f.properties.nearest_walk_minutes), fillOpacity: point ? 0.85 : 0.65 };
  }, "area").addTo(map);
  // The SIMD layer's shapes are made the first time it is chosen: most visits never do.
  var deciles = L.layerGroup();
  map.on("baselayerchange", function (e) {
    if (e.layer !== deciles || deciles.getLayers().length) { return; }
    deciles.addLayer(areaLayer(function (f) {
      var d = f.properties.deprivation_decile;
      return { color: "#333", weight: 0.5, fillOpacity: 0.7, fillColor: d ? decileColours[d - 1] : "#cccccc" };
    }, "decile"));
  });
  var councils = L.geoJSON(data.councils, {
    interactive: false,
    style: function () { return { className: "council", color: "#222", weight: 1.5, dashArray: "6 4", fill: false }; }
  }).addTo(map);
  var services = L.layerGroup((data.services || []).map(function (s) {
    var link = document.createElement("a");
    link.href = data.service_url.replace("ID", encodeURIComponent(s.id));
    link.textContent = s.name;
    return L.circleMarker([s.lat, s.lon], { radius: 4, color: "#000", weight: 1, fillColor: "#ffffff",
                                             fillOpacity: 1, className: "service" }).bindPopup(link);
  })).addTo(map);
  var unmet = L.layerGroup((data.unmet || []).map(function (u) {
    return L.circleMarker([u.lat, u.lon], { radius: 4 + 2 * Math.sqrt(u.searches), color: "#4a1486", weight: 2,
                                            fillColor: "#807dba", fillOpacity: 0.8, className: "unmet" })
      .bindPopup(assetmap.popupFor(u.area_name || u.area_code, [u.area_code,
        u.searches + " search" + (u.searches === 1 ? "" : "es") + " for " + u.need_label.toLowerCase() +
        " found nothing here"]));
  })).addTo(map);
  L.control.layers({ "Walk to the nearest service": access, "SIMD decile (1 = most deprived)": deciles },
                   { "Council areas": councils, "Services": services, "Unmet searches": unmet },
                   { collapsed: false }).addTo(map);

  var legend = L.control({ position: "bottomleft" });
  function row(box, swatchClass, colour, border, text) {
    var line = document.createElement("div");
    var swatch = document.createElement("span");
    swatch.className = swatchClass;
    swatch.style.background = colour;
    if (border) { swatch.style.border = border; }
    line.appendChild(swatch);
    line.appendChild(document.createTextNode(" " + text));
    box.appendChild(line);
  }
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend");
    var title = document.createElement("strong");
    title.textContent = "Walk to nearest";
    box.appendChild(title);
    [["under 10 min", 0], ["10-20", 1], ["20-30", 2], ["30-45", 3], ["45+", 4]].forEach(function (item) {
      row(box, "swatch", walkColours[item[1]][1], null, item[0]);
    });
    row(box, "swatch", "transparent", "3px solid #b00020", "gap (red edge)");
    if (circles) { row(box, "swatch dot", "#bbbbbb", "1px solid #666", "data zone without a boundary, drawn at its centre; size: population"); }
    if ((data.unmet || []).length) { row(box, "swatch dot", "#807dba", "2px solid #4a1486", "unmet searches (size: how many)"); }
    row(box, "swatch", "transparent", "2px dashed #222", "council area");
    return box;
  };
  legend.addTo(map);
  var bounds = access.getBounds();
  if (bounds.isValid()) { map.fitBounds(bounds); } else { map.setView([55.8609, -4.2514], 11); }
  window.assetmapReady = true;
  document.documentElement.dataset.ready = "true";  // for tests: no eval under the CSP
})();
