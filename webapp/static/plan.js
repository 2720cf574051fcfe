/* The plan page: asks /api/plan, draws the sites, today's services and the people with nothing
   in reach, fills the table, and answers "what if" clicks with /api/plan/reach. Text only. */
"use strict";

(function () {
  var unit = document.getElementById("unit");
  var reach = document.getElementById("reach");
  if (unit && reach) {
    unit.addEventListener("change", function () { reach.name = unit.value; });
  }
  var form = document.getElementById("plan-form");
  if (form) {
    form.addEventListener("submit", function () {
      var status = document.getElementById("plan-status");
      if (status) { status.textContent = "Working out…"; }
    });
  }
  var kept = assetmap.readData("proposal-data");
  if (kept.sites) { proposalMap(kept); }
  var data = assetmap.readData("plan-data");
  if (!data.plan_url) { return; }
  var status = document.getElementById("plan-status");
  var number = new Intl.NumberFormat("en-GB");

  function text(tag, content, className) {
    var node = document.createElement(tag);
    node.textContent = content;
    if (className) { node.className = className; }
    return node;
  }
  function people(n) { return number.format(n) + (n === 1 ? " person" : " people"); }

  function failed(response) {
    return response.json().then(function (body) { throw new Error(body.error || response.statusText); },
                                function () { throw new Error(response.status + " " + response.statusText); });
  }

  function gapInWords(plan) {
    if (plan.optimal || plan.gap <= 0) { return "proved the best possible"; }
    var percent = plan.gap * 100;
    return "within " + (percent < 0.1 ? percent.toFixed(2) : percent.toFixed(1)) + "% of the best possible";
  }

  function summary(plan) {
    var q = plan.question;
    var reachWords = q.metres ? number.format(q.metres) + " m (straight line)"
                              : q.walk_minutes + " minutes' walk (about " + number.format(Math.round(plan.reach_metres)) + " m straight line)";
    var group = q.deprived_deciles ? "people in SIMD deciles 1 to " + q.deprived_deciles : "everyone";
    return "For " + plan.need_label.toLowerCase() + " in " + plan.locality_label + ", within " + reachWords +
      ": of " + people(plan.target_people) + " (" + group + "), " + people(plan.unreached_people) +
      " have no service meeting the need in reach today. These " + plan.sites.length + " new sites would reach " +
      people(plan.people_reached) + " of them (" + gapInWords(plan) + ").";
  }

  function quality(plan) {
    var list = document.getElementById("plan-quality");
    [["The objective", "Reach the most people in the target group who have nothing in reach today, with " +
       plan.question.sites + " new site" + (plan.question.sites === 1 ? "" : "s") + " (each person counted once)."],
     ["Exact answer (integer programme)", people(plan.people_reached)],
     ["One best site at a time (greedy)", people(plan.greedy_reached)],
     ["Upper bound (linear relaxation)", "no choice of sites can reach more than " +
       number.format(Math.floor(plan.lp_bound + 1e-6))],
     ["So the answer is", gapInWords(plan)],
     ["Candidates weighed", number.format(plan.candidates) + " places, in " + plan.seconds.toFixed(1) + " s"]
    ].forEach(function (row) { list.appendChild(text("dt", row[0])); list.appendChild(text("dd", row[1])); });
    var notes = document.getElementById("plan-notes");
    (plan.notes || []).forEach(function (note) { notes.appendChild(text("li", note)); });
  }

  function table(plan) {
    var body = document.querySelector("#plan-sites tbody");
    var total = 0;
    plan.sites.forEach(function (site, i) {
      // The planner's own running total: the sum of rounded counts can be a person off.
      total = site.running_total || (total + site.newly_reached);
      var row = document.createElement("tr");
      row.appendChild(text("td", String(i + 1)));
      row.appendChild(text("td", site.label));
      row.appendChild(text("td", site.area_code || ""));
      row.appendChild(text("td", number.format(site.newly_reached), "num"));
      row.appendChild(text("td", number.format(total), "num"));
      body.appendChild(row);
    });
  }

  function draw(plan) {
    var map = assetmap.makeMap(document.getElementById("plan-map"), data);
    var everything = [];
    var unreached = L.layerGroup((plan.unreached_areas || []).map(function (a) {
      everything.push([a.latitude, a.longitude]);
      return L.circleMarker([a.latitude, a.longitude], {
        radius: Math.min(14, Math.max(2, Math.sqrt(a.people) / 4)), color: "#b00020", weight: 0.8,
        fillColor: "#d73027", fillOpacity: 0.3, className: "unreached" }).bindPopup(assetmap.popupFor(a.area_code,
          [people(a.people) + " with nothing in reach"]));
    })).addTo(map);
    var services = L.layerGroup((plan.map_services || []).map(function (s) {
      var link = document.createElement("a");
      link.href = data.service_url.replace("ID", encodeURIComponent(s.id));
      link.textContent = s.name;
      return L.circleMarker([s.lat, s.lon], { radius: 5, color: "#000", weight: 1, fillColor: "#2b6cb0",
                                               fillOpacity: 1, className: "service" }).bindPopup(link);
    })).addTo(map);
    var sites = L.layerGroup().addTo(map);
    plan.sites.forEach(function (site, i) {
      var at = [site.latitude, site.longitude];
      everything.push(at);
      L.circle(at, { radius: plan.reach_metres, color: "#5b2a86", weight: 2, fillOpacity: 0.08,
                     interactive: false, className: "site-reach" }).addTo(sites);
      L.marker(at, { icon: assetmap.numberIcon(i + 1, "site"), title: "Site " + (i + 1) + ": " + site.label,
                     keyboard: true }).bindPopup(assetmap.popupFor("Site " + (i + 1) + ": " + site.label, [
        people(site.newly_reached) + " newly reached", people(site.reach_alone) + " with nothing in reach, counting it alone",
        site.area_code ? "Data zone " + site.area_code : null])).addTo(sites);
    });
    L.control.layers({}, { "Proposed sites": sites, "Services today": services,
                           "People with nothing in reach": unreached }, { collapsed: false }).addTo(map);
    var bounds = L.latLngBounds(everything);
    if (bounds.isValid()) { map.fitBounds(bounds.pad(0.1)); } else { map.setView([55.8609, -4.2514], 11); }
    return map;
  }

  function whatIf(map, plan) {
    var placed = plan.sites.map(function (s) { return [s.longitude, s.latitude]; });
    var mine = L.layerGroup().addTo(map);
    var list = document.getElementById("whatif-list");
    var note = document.getElementById("whatif-status");
    var clear = document.getElementById("whatif-clear");
    var letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    var count = 0;
    map.on("click", function (event) {
      var lat = event.latlng.lat, lon = event.latlng.lng;
      var letter = letters[count % letters.length];
      note.textContent = "Working out who a site there would reach…";
      var url = data.reach_url + "&lat=" + lat.toFixed(6) + "&lon=" + lon.toFixed(6) + "&placed=" +
        encodeURIComponent(placed.map(function (p) { return p[0].toFixed(6) + "," + p[1].toFixed(6); }).join(";"));
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : failed(r); })
        .then(function (found) {
          count += 1;
          placed.push([lon, lat]);
          var words = "Your site " + letter + ": " + people(found.unreached_people) + " newly reached, in " +
            found.areas.length + " data zone" + (found.areas.length === 1 ? "" : "s") + " (" +
            people(found.people) + " of the target group in reach in all)";
          L.circle([lat, lon], { radius: found.reach_metres, color: "#c05600", weight: 2, dashArray: "4 4",
                                 fillOpacity: 0.06, interactive: false }).addTo(mine);
          L.marker([lat, lon], { icon: assetmap.numberIcon(letter, "whatif"), title: words }).bindPopup(
            assetmap.popupFor("Your site " + letter, [people(found.unreached_people) + " newly reached",
                                                      found.areas.join(", ")])).addTo(mine);
          list.appendChild(text("li", words, "whatif-item"));
          note.textContent = "Your site " + letter + " would newly reach " + people(found.unreached_people) + ".";
          clear.hidden = false;
          document.documentElement.dataset.whatif = String(count);
        })
        .catch(function (error) { note.textContent = "Could not work that out: " + error.message; });
    });
    clear.addEventListener("click", function () {
      mine.clearLayers();
      list.textContent = "";
      placed = placed.slice(0, plan.sites.length);
      count = 0;
      clear.hidden = true;
      note.textContent = "No site of your own placed yet.";
      document.documentElement.dataset.whatif = "0";
    });
  }

  function proposalMap(kept) {
    var map = assetmap.makeMap(document.getElementById("proposal-map"), kept);
    var points = [];
    kept.sites.forEach(function (site, i) {
      var at = [site.latitude, site.longitude];
      points.push(at);
      L.circle(at, { radius: kept.reach_metres || 0, color: "#5b2a86", weight: 2, fillOpacity: 0.08,
                     interactive: false }).addTo(map);
      L.marker(at, { icon: assetmap.numberIcon(i + 1, "site"), title: "Site " + (i + 1) + ": " + site.label })
        .addTo(map);
    });
    kept.services.forEach(function (s) {
      var link = document.createElement("a");
      link.href = kept.service_url.replace("ID", encodeURIComponent(s.id));
      link.textContent = s.name + " (new since)";
      points.push([s.lat, s.lon]);
      L.circleMarker([s.lat, s.lon], { radius: 6, color: "#000", weight: 1, fillColor: "#1a9850", fillOpacity: 1,
                                        className: "service new" }).bindPopup(link).addTo(map);
    });
    var bounds = L.latLngBounds(points);
    if (bounds.isValid()) { map.fitBounds(bounds.pad(0.2)); }
    document.documentElement.dataset.ready = "true";
  }

  var started = Date.now();
  var ticking = setInterval(function () {
    status.textContent = "Working out… " + Math.round((Date.now() - started) / 1000) + " s";
  }, 1000);
  fetch(data.plan_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : failed(r); })
    .then(function (plan) {
      clearInterval(ticking);
      document.getElementById("plan-result").hidden = false;
      document.getElementById("plan-summary").textContent = summary(plan);
      table(plan);
      quality(plan);
      var map = draw(plan);
      whatIf(map, plan);
      status.textContent = "Worked out in " + plan.seconds.toFixed(1) + " s.";
      document.documentElement.dataset.ready = "true";  // for tests: no eval under the CSP
    })
    .catch(function (error) {
      clearInterval(ticking);
      status.textContent = "Could not make this plan: " + error.message;
      status.classList.add("error");
      document.documentElement.dataset.ready = "error";
    });
})();
