/* The finder map: Leaflet (shipped in static/vendor/leaflet), markers from the JSON script tag
   "finder-markers", texts from "finder-map-config". The list stays the primary view: when
   Leaflet or the tiles fail, the note above the map says so and nothing else changes. */
(function () {
  "use strict";
  var container = document.getElementById("finder-map");
  var note = document.getElementById("map-note");
  if (!container || !note) { return; }
  var config = JSON.parse(document.getElementById("finder-map-config").textContent);
  var markers = JSON.parse(document.getElementById("finder-markers").textContent);
  if (typeof window.L === "undefined") {
    note.textContent = config.noScript;
    container.hidden = true;
    return;
  }
  note.hidden = true;
  var map = L.map(container, { zoomControl: false, scrollWheelZoom: false });
  L.control.zoom({ zoomInTitle: config.zoomIn, zoomOutTitle: config.zoomOut }).addTo(map);
  map.attributionControl.setPrefix(false);
  var tiles = L.tileLayer(config.tiles, { maxZoom: 18, attribution: config.attribution });
  var failed = false;
  tiles.on("tileerror", function () {
    if (failed) { return; }
    failed = true;
    note.textContent = config.tilesFailed;
    note.hidden = false;
  });
  tiles.addTo(map);
  var bounds = [];
  markers.forEach(function (item) {
    var marker = L.marker([item.lat, item.lon], { title: item.name, alt: item.name, keyboard: true });
    var popup = document.createElement("div");
    var heading = document.createElement("strong");
    heading.textContent = item.name;
    var address = document.createElement("p");
    address.textContent = item.address;
    var link = document.createElement("a");
    link.href = item.url;
    link.textContent = config.profile;
    popup.appendChild(heading);
    popup.appendChild(address);
    popup.appendChild(link);
    marker.bindPopup(popup);
    marker.addTo(map);
    bounds.push([item.lat, item.lon]);
  });
  if (bounds.length) {
    map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 });
  } else {
    map.setView([51.1657, 10.4515], 6);
  }
})();
