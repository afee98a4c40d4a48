// Leaflet maps with an optional base layer: the tile URL comes from the server setting
// `map_tile_url` (e.g. a city's 天地图 service); with none, the vector layers stand alone on a
// plain background, so everything works offline.
/* global L */

export function tileUrl() {
  return document.querySelector('meta[name="tile-url"]')?.content || "";
}

export function makeMap(id, opts = {}) {
  const map = L.map(id, { zoomControl: true, attributionControl: false, preferCanvas: false, zoomSnap: 0.5, ...opts });
  const url = tileUrl();
  if (url) L.tileLayer(url, { maxZoom: 19, subdomains: "01234567" }).addTo(map);
  else map.getContainer().style.background = "#eef1f4";
  return map;
}

export function fitBox(map, box, fallback = [34.79, 114.35], zoom = 12) {
  if (box) map.fitBounds([[box[1], box[0]], [box[3], box[2]]], { padding: [10, 10] });
  else map.setView(fallback, zoom);
}

export async function geojson(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

export const STYLE = {
  district: { color: "#1f3b63", weight: 2, fill: true, fillColor: "#ffffff", fillOpacity: 0.35 },
  street: { color: "#4a6387", weight: 1.2, dashArray: "4 3", fill: false },
  community: { color: "#8a9bb3", weight: 0.8, fill: false },
  grid: { color: "#9fb0c6", weight: 0.5, fillOpacity: 0.0 },
};
