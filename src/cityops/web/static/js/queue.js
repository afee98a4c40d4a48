// The work queue: j/k to move, Enter to open, x to select, / to search, r to refresh;
// live refresh of the rows every 30 s; bulk actions through the case API.
import { api, t, toast, typing } from "./api.js";

const tbody = document.getElementById("rows");
const total = document.getElementById("total");
const refreshed = document.getElementById("refreshed");
const live = document.getElementById("live");
const bulkbar = document.getElementById("bulkbar");
const bulkCount = document.getElementById("bulk-count");
const pickAll = document.getElementById("pick-all");
const filters = document.getElementById("filters");
let cur = -1;

const rows = () => [...tbody.querySelectorAll("tr[data-id]")];
const selected = () => rows().filter((r) => r.querySelector(".pick").checked);

function setCur(i, scroll = true) {
  const all = rows();
  if (!all.length) { cur = -1; return; }
  cur = Math.max(0, Math.min(i, all.length - 1));
  all.forEach((r, k) => r.classList.toggle("cur", k === cur));
  if (scroll) all[cur].scrollIntoView({ block: "nearest" });
}

function syncBulk() {
  const n = selected().length;
  rows().forEach((r) => r.classList.toggle("sel", r.querySelector(".pick").checked));
  if (bulkbar) bulkbar.classList.toggle("hidden", n === 0);
  if (bulkCount) bulkCount.textContent = n;
}

function stamp() {
  if (refreshed) refreshed.textContent = t("js.refreshed", { time: new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: document.querySelector('meta[name="tz"]')?.content || undefined }) });
}

async function refresh() {
  const keepSel = new Set(selected().map((r) => r.dataset.id));
  const keepCur = rows()[cur]?.dataset.id;
  const url = "/cases/rows" + location.search;
  const r = await fetch(url, { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
  if (!r.ok) return;
  tbody.innerHTML = await r.text();
  if (total) total.textContent = r.headers.get("X-Total") ?? total.textContent;
  rows().forEach((row) => { if (keepSel.has(row.dataset.id)) row.querySelector(".pick").checked = true; });
  const idx = rows().findIndex((row) => row.dataset.id === keepCur);
  if (idx >= 0) setCur(idx, false);
  syncBulk();
  stamp();
}

tbody.addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-id]");
  if (!row) return;
  if (e.target.classList.contains("pick")) { syncBulk(); return; }
  if (e.target.closest("a")) return;
  location.href = `/cases/${row.dataset.number}`;
});
pickAll?.addEventListener("change", () => {
  rows().forEach((r) => { r.querySelector(".pick").checked = pickAll.checked; });
  syncBulk();
});
document.getElementById("bulk-clear")?.addEventListener("click", () => {
  rows().forEach((r) => { r.querySelector(".pick").checked = false; });
  if (pickAll) pickAll.checked = false;
  syncBulk();
});
document.getElementById("refresh")?.addEventListener("click", refresh);
filters?.querySelectorAll("select").forEach((s) => s.addEventListener("change", () => {
  filters.querySelector("[name=page]")?.remove();
  filters.submit();
}));

document.addEventListener("keydown", (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape" && typing(e)) e.target.blur();
    return;
  }
  const all = rows();
  if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); setCur(cur + 1); }
  else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); setCur(cur - 1); }
  else if (e.key === "Enter" && all[cur]) { e.preventDefault(); location.href = `/cases/${all[cur].dataset.number}`; }
  else if (e.key === "x" && all[cur]) { const c = all[cur].querySelector(".pick"); c.checked = !c.checked; syncBulk(); }
  else if (e.key === "/") { const s = document.getElementById("search"); if (s) { e.preventDefault(); s.focus(); s.select(); } }
  else if (e.key === "r") { e.preventDefault(); refresh(); }
});

// Bulk actions: one API call per case, with the version the row showed (stale rows are refused).
document.querySelectorAll("[data-bulk]").forEach((btn) => btn.addEventListener("click", async () => {
  const action = btn.dataset.bulk;
  const picked = selected();
  if (!picked.length) return;
  let note = "";
  if (action === "urge") {
    note = prompt(t("bulk.urge_note")) || "";
    if (!note) return;
  }
  const dept = document.getElementById("bulk-dept")?.value || "";
  btn.disabled = true;
  let ok = 0;
  const failed = [];
  for (const row of picked) {
    const ref = row.dataset.number;
    try {
      const body = { version: Number(row.dataset.version) };
      if (action === "dispatch") {
        let department = dept;
        if (!department) {
          const a = await api(`/api/v1/cases/${ref}/actions`);
          department = a.suggestion?.department || "";
        }
        if (!department) throw new Error(t("bulk.no_department"));
        body.department = department;
      }
      if (action === "urge") body.note = note;
      await api(`/api/v1/cases/${ref}/actions/${action}`, { method: "POST", body });
      ok += 1;
    } catch (err) {
      failed.push(`${ref}：${err.message}`);
    }
  }
  btn.disabled = false;
  toast(t("bulk.done", { ok, failed: failed.length }) + (failed.length ? "\n" + failed.slice(0, 3).join("\n") : ""), failed.length > 0);
  if (pickAll) pickAll.checked = false;
  await refresh();
  rows().forEach((r) => { r.querySelector(".pick").checked = false; });
  syncBulk();
}));

setCur(0, false);
stamp();
setInterval(() => { if (live?.checked && !document.hidden) refresh(); }, 30000);
