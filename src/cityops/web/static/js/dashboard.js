// Dashboard charts (ECharts) and the district heat map (Leaflet); every mark clicks through to
// the list of cases behind it (/cases?metric=…&period=…).
/* global echarts, L */
import { t } from "./api.js";
import { fitBox, geojson, makeMap } from "./basemap.js";

const { charts, view } = JSON.parse(document.getElementById("dash-data").textContent);
const period = charts.period;
const font = getComputedStyle(document.body).fontFamily;
const base = { textStyle: { fontFamily: font, fontSize: 12, color: "#3a4656" }, animation: false };
const drill = (params) => { location.href = `/cases?mine=0&period=${period}&${params}`; };
const PALETTE = ["#1f5fd6", "#16a3a0", "#e69500", "#8b5cf6", "#c62828", "#64748b"];

function trend() {
  const c = echarts.init(document.getElementById("c-trend"), null, { renderer: "svg" });
  c.setOption({
    ...base,
    color: ["#1f5fd6", "#1b8a4b"],
    grid: { left: 36, right: 12, top: 28, bottom: 24 },
    legend: { top: 0, right: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 12 } },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: charts.trend.days, axisLine: { lineStyle: { color: "#c8d0da" } }, axisTick: { show: false }, axisLabel: { color: "#6b7686" } },
    yAxis: { type: "value", minInterval: 1, splitLine: { lineStyle: { color: "#eceff3" } }, axisLabel: { color: "#6b7686" } },
    series: [
      { name: t("js.reported"), type: "line", smooth: 0.25, symbol: "circle", symbolSize: 4, areaStyle: { opacity: 0.08 }, data: charts.trend.reported },
      { name: t("js.closed"), type: "line", smooth: 0.25, symbol: "circle", symbolSize: 4, data: charts.trend.closed },
    ],
  });
  return c;
}

function sources() {
  const c = echarts.init(document.getElementById("c-source"), null, { renderer: "svg" });
  const data = charts.by_source.map((b) => ({ name: b.label, value: b.count, key: b.key }));
  c.setOption({
    ...base,
    color: PALETTE,
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: { orient: "vertical", right: 10, top: "middle", itemWidth: 10, itemHeight: 10 },
    series: [{ type: "pie", radius: ["48%", "72%"], center: ["38%", "50%"], label: { show: false }, data: data.length ? data : [{ name: t("js.none"), value: 0, itemStyle: { color: "#eceff3" } }] }],
  });
  c.on("click", (p) => p.data.key && drill(`metric=reported&source=${p.data.key}`));
  return c;
}

function types() {
  const c = echarts.init(document.getElementById("c-types"), null, { renderer: "svg" });
  const rows = [...charts.by_type].reverse();
  c.setOption({
    ...base,
    color: ["#1f5fd6"],
    grid: { left: 8, right: 36, top: 4, bottom: 4, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value", show: false },
    yAxis: { type: "category", data: rows.map((b) => b.label), axisLine: { show: false }, axisTick: { show: false }, axisLabel: { color: "#3a4656", width: 110, overflow: "truncate" } },
    series: [{ type: "bar", barWidth: 12, data: rows.map((b) => ({ value: b.count, key: b.key })), label: { show: true, position: "right", color: "#3a4656" }, itemStyle: { borderRadius: [0, 3, 3, 0] } }],
  });
  c.on("click", (p) => p.data.key && drill(`metric=reported&type=${p.data.key}`));
  return c;
}

async function heat() {
  const el = document.getElementById("heatmap");
  if (!el) return;
  const map = makeMap("heatmap", { zoomControl: false, dragging: false, scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false });
  fitBox(map, view);
  const counts = Object.fromEntries(charts.by_district.map((b) => [b.key, b.count]));
  const max = Math.max(1, ...Object.values(counts));
  const fc = await geojson("/api/v1/regions.geojson?level=district");
  L.geoJSON(fc, {
    style: (f) => {
      const n = counts[f.id] || 0;
      return { color: "#ffffff", weight: 1.5, fillColor: "#c62828", fillOpacity: n ? 0.12 + 0.7 * (n / max) : 0.04 };
    },
    onEachFeature: (f, layer) => {
      layer.bindTooltip(`${f.properties.name}：${counts[f.id] || 0}`, { sticky: true });
      layer.on("click", () => drill(`metric=reported&region=${f.id}`));
    },
  }).addTo(map);
}

const all = [trend(), sources(), types()];
window.addEventListener("resize", () => all.forEach((c) => c.resize()));
heat();
// Live figures: the page re-renders itself every two minutes while visible.
setInterval(() => { if (!document.hidden) location.reload(); }, 120000);
