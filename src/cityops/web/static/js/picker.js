// Shared by the public and field pages: type groups → types, photos with previews, and the
// position from the device (GPS) or a tap on the map, placed in its grid by /api/v1/locate.
/* global L */
import { api, esc, t } from "./api.js";
import { fitBox, geojson, makeMap, STYLE } from "./basemap.js";

export function typePicker(groups, groupsEl, typesEl, onPick) {
  let chosen = null;
  // White letters on each colour at ≥ 4.5:1 (WCAG AA).
  const COLORS = ["#1f5fd6", "#0f7f7c", "#b45309", "#7c3aed", "#c62828", "#177a42", "#c2410c", "#64748b"];
  groupsEl.innerHTML = groups.map((g, i) =>
    `<button type="button" class="group-btn" data-group="${esc(g.key)}" aria-pressed="false"><span class="gi" aria-hidden="true" style="background:${COLORS[i % COLORS.length]}">${esc(g.label.slice(0, 1))}</span>${esc(g.label)}</button>`).join("");
  groupsEl.querySelectorAll("[data-group]").forEach((b) => b.addEventListener("click", () => {
    groupsEl.querySelectorAll("[data-group]").forEach((x) => { x.classList.toggle("on", x === b); x.setAttribute("aria-pressed", String(x === b)); });
    const g = groups.find((x) => x.key === b.dataset.group);
    typesEl.innerHTML = g.types.map((ty) => `<button type="button" class="type-btn" data-type="${esc(ty.code)}" aria-pressed="false">${esc(ty.name)}</button>`).join("");
    typesEl.querySelectorAll("[data-type]").forEach((tb) => tb.addEventListener("click", () => {
      typesEl.querySelectorAll("[data-type]").forEach((x) => { x.classList.toggle("on", x === tb); x.setAttribute("aria-pressed", String(x === tb)); });
      chosen = tb.dataset.type;
      onPick?.(chosen, tb.textContent);
    }));
  }));
  return () => chosen;
}

export function photoPicker(input, previews) {
  let files = [];
  input.addEventListener("change", () => {
    files = [...files, ...input.files].slice(0, 3);
    previews.replaceChildren(...files.map((f) => {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(f);
      img.alt = f.name;
      return img;
    }));
    input.value = "";
  });
  return { files: () => files, clear: () => { files = []; previews.replaceChildren(); } };
}

export function positionPicker({ mapId, gpsBtn, whereEl, view, regionsUrl }) {
  let pos = null;
  let marker = null;
  const map = mapId ? makeMap(mapId, { zoomControl: false }) : null;
  if (map) {
    fitBox(map, view);
    geojson(regionsUrl).then((fc) => L.geoJSON(fc, {
      style: STYLE.district,
      interactive: false,
      onEachFeature: (f, layer) => layer.bindTooltip(esc(f.properties.name), { permanent: true, direction: "center", className: "region-label" }),
    }).addTo(map)).catch(() => {});
    map.on("click", (e) => set(e.latlng.lng, e.latlng.lat, false));
    // Zoomed in, the communities around give the place a shape and a name.
    const near = L.layerGroup().addTo(map);
    map.on("moveend", () => {
      if (map.getZoom() < 14) { near.clearLayers(); return; }
      geojson(`${regionsUrl}?level=community&bbox=${map.getBounds().toBBoxString()}`).then((fc) => {
        near.clearLayers();
        L.geoJSON(fc, {
          style: STYLE.community,
          interactive: false,
          onEachFeature: (f, layer) => layer.bindTooltip(esc(f.properties.name), { permanent: true, direction: "center", className: "region-label" }),
        }).addTo(near);
      }).catch(() => {});
    });
  }
  async function set(lon, lat, fromGps) {
    pos = { lon, lat };
    if (map) {
      if (marker) marker.setLatLng([lat, lon]);
      else marker = L.circleMarker([lat, lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1 }).addTo(map);
      if (fromGps) map.setView([lat, lon], 15);
    }
    whereEl.textContent = t("public.locating");
    try {
      const loc = await api(`/api/v1/locate?lon=${lon}&lat=${lat}`);
      whereEl.textContent = `${loc.district.name} · ${loc.street.name} · ${loc.community.name}`;
      whereEl.classList.remove("error");
    } catch (err) {
      whereEl.textContent = err.message;
    }
  }
  gpsBtn?.addEventListener("click", () => {
    if (!navigator.geolocation) { whereEl.textContent = t("public.no_gps"); return; }
    whereEl.textContent = t("public.locating");
    navigator.geolocation.getCurrentPosition(
      (p) => set(p.coords.longitude, p.coords.latitude, true),
      () => { whereEl.textContent = t("public.no_gps"); },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
    );
  });
  return { get: () => pos, set };
}
