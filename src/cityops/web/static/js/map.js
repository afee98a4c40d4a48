// 城市运行一张图: district / street / community outlines, unit grids coloured by open cases,
// case points clustered by the server, the components layer; click through to cases.
/* global L */
import { api, esc, t } from "./api.js";
import { fitBox, geojson, makeMap, STYLE } from "./basemap.js";

const cfg = JSON.parse(document.getElementById("map-data").textContent);
const map = makeMap("citymap", { zoomControl: true });
// A view in the address (#zoom/lat/lon) survives a reload and can be shared.
const m = /^#(\d+)\/(-?[\d.]+)\/(-?[\d.]+)$/.exec(location.hash);
if (m) map.setView([Number(m[2]), Number(m[3])], Number(m[1]));
else fitBox(map, cfg.view);
const msg = document.getElementById("map-msg");
// Panes keep the drawing order whatever loads first: outlines < grids < components < cases.
for (const [name, z] of [["outlines", 405], ["grids", 410], ["components", 430], ["cases", 450]]) {
  map.createPane(name).style.zIndex = z;
}
const layers = {
  districts: L.layerGroup().addTo(map),
  streets: L.layerGroup().addTo(map),
  communities: L.layerGroup().addTo(map),
  grids: L.layerGroup().addTo(map),
  cases: L.layerGroup().addTo(map),
  components: L.layerGroup(),
};
const filters = { type: "", source: "", light: "" };
const on = (name) => document.querySelector(`[data-layer=${name}]`).checked;
const bbox = () => map.getBounds().toBBoxString();
const qs = (extra) => new URLSearchParams(Object.entries({ ...extra, ...filters }).filter(([, v]) => v !== "" && v != null)).toString();

function note(text) {
  msg.textContent = text;
  msg.classList.toggle("hidden", !text);
}

async function loadStatic() {
  const districts = await geojson("/api/v1/regions.geojson?level=district");
  L.geoJSON(districts, {
    style: STYLE.district,
    pane: "outlines",
    interactive: false,
    onEachFeature: (f, layer) => layer.bindTooltip(esc(f.properties.name), { permanent: true, direction: "center", className: "region-label" }),
  }).addTo(layers.districts);
  const streets = await geojson("/api/v1/regions.geojson?level=street");
  L.geoJSON(streets, { style: STYLE.street, interactive: false, pane: "outlines" }).addTo(layers.streets);
}

function heat(n) {
  if (!n) return "#ffffff";
  if (n === 1) return "#fbd38d";
  if (n <= 3) return "#f6a75a";
  if (n <= 6) return "#e8743b";
  return "#c62828";
}

let seq = 0;
async function refresh() {
  const my = ++seq;
  const z = Math.round(map.getZoom());
  document.getElementById("s-zoom").textContent = z;
  const box = bbox();
  note("");
  // Communities and grids only when zoomed in enough to read them.
  layers.communities.clearLayers();
  if (on("communities") && z >= 13) {
    geojson(`/api/v1/regions.geojson?level=community&bbox=${box}`).then((fc) => {
      if (my !== seq) return;
      L.geoJSON(fc, { style: STYLE.community, interactive: false, pane: "outlines" }).addTo(layers.communities);
    }).catch(() => {});
  }
  if (on("grids") && z >= 15) {
    Promise.all([
      geojson(`/api/v1/grids.geojson?bbox=${box}&limit=4000`),
      api(`/api/v1/map/grid-cases?${qs({ bbox: box })}`),
    ]).then(([fc, counts]) => {
      if (my !== seq) return;
      layers.grids.clearLayers();
      L.geoJSON(fc, {
        pane: "grids",
        style: (f) => {
          const n = (counts.grids[f.id] || [0])[0];
          return { color: "#9fb0c6", weight: 0.6, fillColor: heat(n), fillOpacity: n ? 0.6 : 0.04 };
        },
        onEachFeature: (f, layer) => {
          const c = counts.grids[f.id];
          layer.bindTooltip(`${esc(f.id)}<br>${esc(t("js.grid_open", { n: c ? c[0] : 0, red: c ? c[1] : 0 }))}`);
          if (c) layer.on("click", () => { location.href = `/cases?mine=0&region=${f.id}`; });
        },
      }).addTo(layers.grids);
    }).catch((e) => { layers.grids.clearLayers(); note(e.message); });
  } else {
    layers.grids.clearLayers();
  }
  if (on("cases")) {
    api(`/api/v1/map/cases?${qs({ bbox: box, zoom: z })}`).then((data) => {
      if (my !== seq) return;
      drawClusters(data.clusters);
    }).catch((e) => note(e.message));
  } else {
    layers.cases.clearLayers();
  }
  layers.components.clearLayers();
  if (on("components") && z >= 16) {
    geojson(`/api/v1/components?bbox=${box}&limit=2000`).then((fc) => {
      if (my !== seq) return;
      L.geoJSON(fc, {
        pointToLayer: (f, ll) => L.circleMarker(ll, { pane: "components", radius: 4, color: "#fff", weight: 1, fillColor: f.properties.status === "intact" ? "#64748b" : "#d97706", fillOpacity: 0.95 }),
        onEachFeature: (f, layer) => layer.bindPopup(`<b>${esc(f.properties.type_name || f.properties.type_code)}</b><br><span class="mono">${esc(f.id || f.properties.id)}</span><br>${esc(f.properties.status_label || f.properties.status)}`),
      }).addTo(layers.components);
      if (fc.truncated) note(t("js.zoom_in"));
    }).catch(() => {});
  }
}

function drawClusters(clusters) {
  layers.cases.clearLayers();
  let total = 0;
  let red = 0;
  for (const c of clusters) {
    total += c.count;
    red += c.red;
    if (c.count === 1) {
      const colour = c.red ? "#c62828" : "#1f5fd6";
      const m = L.circleMarker([c.lat, c.lon], { pane: "cases", radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 });
      const name = cfg.types[c.type_code] || "";
      m.bindPopup(`<b>${esc(name || t("js.untyped"))}</b><br><span class="mono">${esc(c.number)}</span><br><a href="/cases/${encodeURIComponent(c.number)}">${esc(t("js.open_case"))} ›</a>`);
      m.bindTooltip(`${esc(c.number)} ${esc(name)}`);
      m.addTo(layers.cases);
    } else {
      const size = Math.round(26 + Math.min(24, Math.log2(c.count) * 4));
      const icon = L.divIcon({ html: `<div class="cluster" style="width:${size}px;height:${size}px">${c.count}${c.red ? `<b>${c.red}</b>` : ""}</div>`, className: "", iconSize: [size, size] });
      const m = L.marker([c.lat, c.lon], { pane: "cases", icon, title: t("js.cluster", { n: c.count, red: c.red }) });
      m.on("click", () => map.setView([c.lat, c.lon], Math.min(map.getZoom() + 2, 19)));
      m.addTo(layers.cases);
    }
  }
  document.getElementById("s-open").textContent = total;
  document.getElementById("s-red").textContent = red;
}

let timer = null;
map.on("moveend", () => {
  const c = map.getCenter();
  history.replaceState(null, "", `#${Math.round(map.getZoom())}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
  clearTimeout(timer);
  timer = setTimeout(refresh, 200);
});
document.querySelectorAll("[data-layer]").forEach((box) => box.addEventListener("change", () => {
  const layer = layers[box.dataset.layer];
  if (box.checked) layer.addTo(map); else map.removeLayer(layer);
  refresh();
}));
document.getElementById("f-type").addEventListener("change", (e) => { filters.type = e.target.value; refresh(); });
document.getElementById("f-source").addEventListener("change", (e) => { filters.source = e.target.value; refresh(); });
document.querySelectorAll("#f-light [data-light]").forEach((b) => b.addEventListener("click", () => {
  filters.light = filters.light === b.dataset.light ? "" : b.dataset.light;
  document.querySelectorAll("#f-light [data-light]").forEach((x) => x.classList.toggle("on", x.dataset.light === filters.light));
  refresh();
}));

loadStatic().then(refresh).catch((e) => note(e.message));
setInterval(() => { if (!document.hidden) refresh(); }, 60000);
