// Case detail: the actions the user may take now (from the API) with the forms they need,
// photos uploaded with previews, and the case's place on a small map with its grid.
/* global L */
import { api, esc, previewFiles, t, toast, typing, uploadPhoto } from "./api.js";
import { geojson, makeMap, STYLE } from "./basemap.js";

const data = JSON.parse(document.getElementById("case-data").textContent);
const host = document.getElementById("actions");
const formHost = document.getElementById("action-form-host");
const suggestionEl = document.getElementById("suggestion");
let state = null;

// Inputs per action (the transition table's `requires`, plus optional notes and photos).
const SPEC = {
  register: ["type_code", "condition", "note"],
  void: ["reason!"],
  request_check: ["supervisor"],
  complete_check: ["result", "note", "attachments"],
  dispatch: ["department", "note"],
  return: ["reason!"],
  accept: [],
  assign: ["handler"],
  report_done: ["note!", "photos_after"],
  request_verify: ["supervisor"],
  complete_verify: ["result", "note", "attachments"],
  rework: ["reason!"],
  close: ["note"],
  request_suspension: ["reason!"],
  suspend: ["reason!"],
  resume: [],
  request_extension: ["extension", "reason!"],
  approve_extension: [],
  reject_extension: ["reason!"],
  urge: ["note!"],
  supervise: ["note!"],
  merge_duplicate: ["parent", "reason!"],
};
const PRIMARY = new Set(["register", "dispatch", "accept", "assign", "report_done", "request_verify", "close", "complete_verify", "complete_check", "approve_extension", "resume"]);
const DANGER = new Set(["void", "return", "rework", "reject_extension", "suspend"]);

const options = (list, current) => list.map(([v, label]) => `<option value="${esc(v)}" ${v === current ? "selected" : ""}>${esc(label)}</option>`).join("");

function input(name) {
  const req = name.endsWith("!");
  const key = name.replace("!", "");
  const star = req ? ' <span class="req">*</span>' : "";
  const label = (k) => `<span>${esc(t("field." + k))}${star}</span>`;
  switch (key) {
    case "reason":
    case "note":
      return `<label class="field">${label(key)}<textarea name="${key}" rows="2" ${req ? "required" : ""}></textarea></label>`;
    case "type_code":
      return `<label class="field">${label(key)}<input type="text" name="type_code" list="type-list" value="${esc(data.type_code || "")}" pattern="\\d{5}" required></label>`;
    case "condition":
      return `<label class="field">${label(key)}<select name="condition" required>${conditionOptions(data.conditions)}</select></label>`;
    case "department": {
      const s = state?.suggestion?.department || "";
      return `<label class="field">${label(key)}<select name="department" required><option value="">—</option>${options(data.departments, s)}</select></label>`;
    }
    case "handler":
      return `<label class="field">${label(key)}<select name="handler" required><option value="">—</option>${options(data.handlers.map(([u, d]) => [u, d]), "")}</select></label>`;
    case "supervisor":
      return `<label class="field">${label(key)}<select name="supervisor" required><option value="">—</option>${options(data.supervisors, data.grid_supervisor || "")}</select></label>`;
    case "result":
      return `<div class="field"><span id="result-label">${esc(t("field.result"))}</span><div class="result-toggle" role="radiogroup" aria-labelledby="result-label">
        <label><input type="radio" name="result" value="true" checked><span>${esc(t("result.pass"))}</span></label>
        <label><input type="radio" name="result" value="false"><span>${esc(t("result.fail"))}</span></label></div></div>`;
    case "extension":
      return `<div class="field"><span id="ext-label">${esc(t("field.extension"))} <span class="req">*</span></span><div class="row">
        <input type="number" name="ext_amount" min="1" max="60" value="1" style="width:80px" required aria-labelledby="ext-label">
        <select name="ext_unit" aria-labelledby="ext-label"><option>工作日</option><option>工作时</option><option>自然日</option></select></div></div>`;
    case "parent":
      return `<label class="field">${label(key)} <span class="req">*</span><input type="text" name="parent" required placeholder="410204-20261124-0001"></label>`;
    case "photos_after":
    case "attachments":
      return `<div class="field"><span>${esc(t("field." + key))}</span>
        <div class="row"><label class="btn btn-sm">＋ ${esc(t("case.add_photo"))}<input type="file" name="${key}" accept="image/*" multiple data-photos class="sr-only"></label></div>
        <div class="previews"></div></div>`;
    default:
      return "";
  }
}

function conditionOptions(list) {
  if (!list.length) return `<option value="">${esc(t("case.no_standard"))}</option>`;
  return list.map((c) => `<option value="${esc(c.condition)}">${esc(c.condition)}（${esc(c.limit)}）</option>`).join("");
}

function openForm(action) {
  const spec = SPEC[action] || ["note"];
  formHost.innerHTML = `<form class="action-form" data-action="${action}">
    <h3>${esc(t("action." + action))}</h3>
    ${spec.map(input).join("")}
    <div class="error hidden" role="alert"></div>
    <div class="row"><button class="btn ${DANGER.has(action) ? "btn-danger" : "btn-primary"}" type="submit">${esc(t("case.confirm", { action: t("action." + action) }))}</button>
    <button class="btn" type="button" data-cancel>${esc(t("case.cancel"))}</button></div></form>`;
  const form = formHost.querySelector("form");
  form.querySelector("[data-cancel]").addEventListener("click", () => { formHost.replaceChildren(); });
  form.querySelectorAll("[data-photos]").forEach((inp) => inp.addEventListener("change", () => previewFiles(inp, inp.closest(".field").querySelector(".previews"))));
  const typeInput = form.querySelector("[name=type_code]");
  typeInput?.addEventListener("change", async () => {
    const list = await api(`/cases/-/conditions?type=${encodeURIComponent(typeInput.value)}`);
    form.querySelector("[name=condition]").innerHTML = conditionOptions(list);
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(form, action); });
  (form.querySelector("textarea, select, input:not([type=radio])") || form.querySelector("button")).focus();
}

async function submit(form, action) {
  const btn = form.querySelector("button[type=submit]");
  const errBox = form.querySelector(".error");
  btn.disabled = true;
  errBox.classList.add("hidden");
  try {
    const f = new FormData(form);
    const body = { version: state.version };
    for (const key of ["reason", "note", "type_code", "condition", "department", "handler", "supervisor", "parent"]) {
      if (f.has(key) && f.get(key) !== "") body[key] = f.get(key);
    }
    if (f.has("result")) body.result = f.get("result") === "true";
    if (f.has("ext_amount")) body.extension = `${f.get("ext_amount")}${f.get("ext_unit")}`;
    for (const key of ["photos_after", "attachments"]) {
      const inp = form.querySelector(`[name=${key}]`);
      if (inp && inp.files.length) {
        body[key] = [];
        for (const file of inp.files) body[key].push(await uploadPhoto(file));
      }
    }
    await api(`/api/v1/cases/${data.id}/actions/${action}`, { method: "POST", body });
    toast(t("case.done", { action: t("action." + action) }));
    setTimeout(() => location.reload(), 300);
  } catch (err) {
    errBox.textContent = err.message;
    errBox.classList.remove("hidden");
    btn.disabled = false;
  }
}

async function loadActions() {
  try {
    state = await api(`/api/v1/cases/${data.id}/actions`);
  } catch (err) {
    host.innerHTML = `<span class="error">${esc(err.message)}</span>`;
    return;
  }
  if (state.suggestion?.department) {
    const name = (data.departments.find(([c]) => c === state.suggestion.department) || [])[1] || state.suggestion.department;
    suggestionEl.textContent = t("case.suggested", { department: name });
  }
  if (!state.actions.length) {
    host.innerHTML = `<span class="muted">${esc(t("case.no_actions"))}</span>`;
    return;
  }
  host.innerHTML = state.actions.map((a, i) =>
    `<button class="btn ${PRIMARY.has(a) ? "btn-primary" : DANGER.has(a) ? "btn-danger" : ""}" data-action="${a}" title="${i + 1}">${esc(t("action." + a))}${i < 9 ? ` <kbd>${i + 1}</kbd>` : ""}</button>`).join("");
  host.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () => openForm(b.dataset.action)));
}

document.addEventListener("keydown", (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    if (formHost.firstChild) formHost.replaceChildren();
    else location.href = "/cases";
  } else if (/^[1-9]$/.test(e.key) && state) {
    const a = state.actions[Number(e.key) - 1];
    if (a) { e.preventDefault(); openForm(a); }
  }
});

async function drawMap() {
  if (data.lat == null || data.lon == null) return;
  const map = makeMap("minimap", { scrollWheelZoom: false });
  map.setView([data.lat, data.lon], 16);
  try {
    if (data.grid_code) {
      const community = data.grid_code.slice(0, 12);
      const grids = await geojson(`/api/v1/grids.geojson?community=${community}`);
      L.geoJSON(grids, { style: (f) => (f.id === data.grid_code ? { color: "#1f5fd6", weight: 2, fillColor: "#1f5fd6", fillOpacity: 0.15 } : STYLE.grid) }).addTo(map);
      const own = grids.features.find((f) => f.id === data.grid_code);
      if (own) map.fitBounds(L.geoJSON(own).getBounds().pad(1.5));
      const comm = await geojson(`/api/v1/regions.geojson?level=community&parent=${data.grid_code.slice(0, 9)}`);
      L.geoJSON(comm, { style: STYLE.community, interactive: false }).addTo(map);
    }
  } catch { /* the point alone is still useful */ }
  L.circleMarker([data.lat, data.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1 }).addTo(map);
}

loadActions();
drawMap();
