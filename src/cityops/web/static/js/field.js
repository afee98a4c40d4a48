// The field page for supervisors: report in a few taps, and the 核查/核实 tasks.
// Every submission goes into an IndexedDB outbox first, with its own idempotency key; the outbox
// is sent when the network is there (now, on the `online` event, and every 15 s), each item
// exactly once: the server returns the first case for a retried key, and a task already
// completed answers 409 task_completed, which counts as delivered.
import { api, ApiError, esc, t, toast, uuid } from "./api.js";
import { photoPicker, positionPicker, typePicker } from "./picker.js";

const cfg = JSON.parse(document.getElementById("field-data").textContent);

// --- the outbox (IndexedDB) ------------------------------------------------------------------
const DB = "cityops-field";
function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const x = d.transaction("outbox", mode);
    const store = x.objectStore("outbox");
    const out = fn(store);
    x.oncomplete = () => resolve(out?.result ?? out);
    x.onerror = () => reject(x.error);
  });
}
const putItem = (item) => tx("readwrite", (s) => s.put(item));
const delItem = (id) => tx("readwrite", (s) => s.delete(id));
const allItems = async () => {
  const d = await db();
  return new Promise((resolve, reject) => {
    const req = d.transaction("outbox").objectStore("outbox").getAll();
    req.onsuccess = () => resolve(req.result.sort((a, b) => a.created - b.created));
    req.onerror = () => reject(req.error);
  });
};

async function enqueue(kind, payload, photos) {
  const item = { id: uuid(), kind, payload, photos, photoIds: null, created: Date.now(), attempts: 0, error: "", failed: false };
  await putItem(item);
  await renderOutbox();
  flush();
  return item;
}

let flushing = false;
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (const item of await allItems()) {
      if (item.failed) continue;
      try {
        await send(item);
        await delItem(item.id);
        toast(item.kind === "report" ? t("fieldpage.sent_report", { number: item.number || "" }) : t("fieldpage.sent_task"));
      } catch (err) {
        item.attempts += 1;
        item.error = err.message;
        // A refusal by the server (4xx other than conflicts) will not heal by retrying.
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 408 && err.status !== 429) item.failed = true;
        await putItem(item);
        if (!(err instanceof ApiError)) break; // offline: try again later
      }
    }
  } finally {
    flushing = false;
    await renderOutbox();
    setNet();
  }
}

async function send(item) {
  if (!item.photoIds) {
    const ids = [];
    for (const blob of item.photos) {
      const form = new FormData();
      form.append("file", blob, blob.name || "photo.jpg");
      ids.push((await api("/api/v1/attachments", { method: "POST", form })).id);
    }
    item.photoIds = ids;
    await putItem(item);
  }
  if (item.kind === "report") {
    const out = await api("/api/v1/cases", {
      method: "POST",
      headers: { "Idempotency-Key": `field:${item.id}` },
      body: { ...item.payload, photos: item.photoIds },
    });
    item.number = out.case.number;
    return;
  }
  try {
    await api(`/api/v1/tasks/${item.payload.task}/complete`, {
      method: "POST",
      body: { result: item.payload.result, note: item.payload.note, photos: item.photoIds },
    });
  } catch (err) {
    if (err instanceof ApiError && err.code === "task_completed") return;
    throw err;
  }
}

async function renderOutbox() {
  const items = await allItems();
  document.getElementById("pending-count").textContent = items.length;
  const host = document.getElementById("outbox");
  if (!items.length) { host.innerHTML = `<span class="muted">${esc(t("fieldpage.outbox_empty"))}</span>`; return; }
  host.innerHTML = items.map((i) => `<div class="queue-item" data-item="${i.id}">
    <span class="badge ${i.failed ? "urgent" : ""}">${esc(i.failed ? t("fieldpage.failed") : t("fieldpage.waiting"))}</span>
    <span style="flex:1">${esc(i.kind === "report" ? i.payload.label || t("fieldpage.report") : t("fieldpage.task_result"))}
    <br><span class="muted" style="font-size:12px">${esc(new Date(i.created).toLocaleTimeString("zh-CN", { hour12: false }))}${i.error ? " · " + esc(i.error) : ""}</span></span>
    ${i.failed ? `<button class="btn btn-sm" data-drop="${i.id}">${esc(t("fieldpage.drop"))}</button>` : ""}</div>`).join("");
  host.querySelectorAll("[data-drop]").forEach((b) => b.addEventListener("click", async () => { await delItem(b.dataset.drop); renderOutbox(); }));
}

function setNet() {
  const el = document.getElementById("net");
  el.textContent = navigator.onLine ? t("fieldpage.online") : t("fieldpage.offline");
  el.classList.toggle("off", !navigator.onLine);
}
window.addEventListener("online", () => { setNet(); flush(); loadTasks(); });
window.addEventListener("offline", setNet);
setInterval(() => { if (navigator.onLine) flush(); }, 15000);

// --- report ------------------------------------------------------------------------------------
let typeLabel = "";
const chosenType = typePicker(cfg.groups, document.getElementById("fgroups"), document.getElementById("ftypes"), (_code, label) => { typeLabel = label; });
const photos = photoPicker(document.getElementById("fphoto"), document.getElementById("fpreviews"));
const where = document.getElementById("fwhere");
const position = positionPicker({ gpsBtn: document.getElementById("fgps"), whereEl: where });
const form = document.getElementById("freport");
const ferror = document.getElementById("ferror");

function gps() {
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(
    (p) => position.set(p.coords.longitude, p.coords.latitude, true),
    () => { where.textContent = t("public.no_gps"); },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
  );
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  ferror.classList.add("hidden");
  const type = chosenType();
  const pos = position.get();
  const problem = !type ? t("public.need_type") : !pos ? t("public.need_position") : "";
  if (problem) { ferror.textContent = problem; ferror.classList.remove("hidden"); return; }
  await enqueue("report", {
    source: "patrol", type_code: type, description: form.description.value, lon: pos.lon, lat: pos.lat, crs: "wgs84", label: typeLabel,
  }, photos.files());
  form.description.value = "";
  photos.clear();
  toast(navigator.onLine ? t("fieldpage.queued") : t("fieldpage.queued_offline"));
});

// --- tasks ----------------------------------------------------------------------------------
let loadingTasks = null;
function loadTasks() {
  // One load at a time: two overlapping loads would each build the forms.
  loadingTasks = (loadingTasks || Promise.resolve()).then(loadTasksOnce, loadTasksOnce);
  return loadingTasks;
}

async function loadTasksOnce() {
  const host = document.getElementById("tasks");
  let tasks;
  try { tasks = await api("/api/v1/tasks"); } catch (err) {
    if (!(err instanceof ApiError)) return; // offline: keep what is shown
    host.innerHTML = `<span class="error">${esc(err.message)}</span>`;
    return;
  }
  const queued = new Set((await allItems()).filter((i) => i.kind === "task").map((i) => String(i.payload.task)));
  tasks = tasks.filter((x) => !queued.has(String(x.id)));
  document.getElementById("task-count").textContent = tasks.length;
  if (!tasks.length) { host.innerHTML = `<span class="muted">${esc(t("fieldpage.no_tasks"))}</span>`; return; }
  // Forms already on screen stay as they are (the supervisor may be typing into one).
  const shown = new Map([...host.querySelectorAll("form[data-task]")].map((f) => [f.dataset.task, f]));
  const fresh = tasks.filter((x) => !shown.has(String(x.id)));
  const cases = await Promise.all(fresh.map((x) => api(`/api/v1/cases/${x.case_id}`).catch(() => null)));
  const built = new Map(fresh.map((x, i) => [String(x.id), taskForm(x, cases[i] || {})]));
  host.replaceChildren(...tasks.map((x) => shown.get(String(x.id)) || built.get(String(x.id))));
}

function taskForm(x, c) {
  const tpl = document.createElement("template");
  tpl.innerHTML = `<form class="task" data-task="${x.id}">
      <div class="task-head"><span class="badge blue">${esc(t(x.kind === "check" ? "fieldpage.check" : "fieldpage.verify"))}</span>
      <a class="mono" href="/cases/${encodeURIComponent(x.case_number)}">${esc(x.case_number)}</a></div>
      <div>${esc(c.description || "")}</div>
      <div class="muted" style="font-size:13px">${esc(c.address || c.grid_code || "")}</div>
      <div class="seg" style="margin:10px 0" role="group" aria-label="${esc(t("field.result"))}"><button type="button" class="pass on" data-result="true" aria-pressed="true">${esc(t("result.pass"))}</button><button type="button" class="fail" data-result="false" aria-pressed="false">${esc(t("result.fail"))}</button></div>
      <textarea name="note" rows="2" placeholder="${esc(t("field.note"))}" aria-label="${esc(t("field.note"))}" style="width:100%"></textarea>
      <div class="photo-pick" style="margin:8px 0"><div class="previews" style="margin:0"></div>
        <label class="add" style="width:64px;height:64px"><span aria-hidden="true" class="plus">＋</span><input type="file" accept="image/*" capture="environment" class="sr-only" aria-label="${esc(t("public.add_photo"))}"></label></div>
      <button class="btn btn-primary btn-lg btn-block" type="submit">${esc(t("fieldpage.send_result"))}</button></form>`;
  const f = tpl.content.firstElementChild;
  let result = true;
  const pick = photoPicker(f.querySelector("input[type=file]"), f.querySelector(".previews"));
  f.querySelectorAll("[data-result]").forEach((b) => b.addEventListener("click", () => {
    result = b.dataset.result === "true";
    f.querySelectorAll("[data-result]").forEach((y) => { y.classList.toggle("on", y === b); y.setAttribute("aria-pressed", String(y === b)); });
  }));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const host = document.getElementById("tasks");
    await enqueue("task", { task: f.dataset.task, result, note: f.note.value }, pick.files());
    f.remove();
    const n = host.querySelectorAll("form[data-task]").length;
    document.getElementById("task-count").textContent = n;
    if (!n) host.innerHTML = `<span class="muted">${esc(t("fieldpage.no_tasks"))}</span>`;
    toast(navigator.onLine ? t("fieldpage.queued") : t("fieldpage.queued_offline"));
  });
  return f;
}

// --- tabs ---------------------------------------------------------------------------------
function showTab(name) {
  document.querySelectorAll("[data-tab]").forEach((a) => {
    a.classList.toggle("on", a.dataset.tab === name);
    a.setAttribute("aria-selected", String(a.dataset.tab === name));
  });
  document.querySelectorAll("[data-pane]").forEach((p) => p.classList.toggle("hidden", p.dataset.pane !== name));
  if (name === "tasks") loadTasks();
}
document.querySelectorAll("[data-tab]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); showTab(a.dataset.tab); history.replaceState(null, "", `#${a.dataset.tab}`); }));
showTab(location.hash === "#tasks" ? "tasks" : "report");
window.addEventListener("hashchange", () => showTab(location.hash === "#tasks" ? "tasks" : "report"));

setNet();
renderOutbox();
flush();
loadTasks();
gps();
