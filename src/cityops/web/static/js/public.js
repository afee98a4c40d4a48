// Public reporting (phone-sized): type from plain-language groups, photo, position, details;
// one submission per idempotency key, so a double tap or a retry never makes two cases.
import { esc, lang, t, uuid } from "./api.js";
import { photoPicker, positionPicker, typePicker } from "./picker.js";

const cfg = JSON.parse(document.getElementById("public-data").textContent);
const form = document.getElementById("report");
const errorEl = document.getElementById("error");
const submitBtn = document.getElementById("submit");
const chosenType = typePicker(cfg.groups, document.getElementById("groups"), document.getElementById("types"));
const photos = photoPicker(document.getElementById("photo"), document.getElementById("previews"));
const position = positionPicker({
  mapId: "pickmap",
  gpsBtn: document.getElementById("gps"),
  whereEl: document.getElementById("where"),
  view: cfg.view,
  regionsUrl: "/public/regions.geojson",
});
let key = uuid();

function fail(message) {
  errorEl.textContent = message;
  errorEl.classList.remove("hidden");
  errorEl.scrollIntoView({ block: "center" });
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  errorEl.classList.add("hidden");
  const type = chosenType();
  const pos = position.get();
  if (!type) return fail(t("public.need_type"));
  if (!pos) return fail(t("public.need_position"));
  const data = new FormData();
  data.append("type_code", type);
  data.append("lon", pos.lon);
  data.append("lat", pos.lat);
  data.append("description", form.description.value);
  data.append("phone", form.phone.value);
  data.append("idempotency_key", key);
  for (const f of photos.files()) data.append("photos", f, f.name || "photo.jpg");
  submitBtn.disabled = true;
  submitBtn.textContent = t("public.sending");
  try {
    const r = await fetch("/public/report", { method: "POST", body: data, headers: { "Accept-Language": lang } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error?.message || `HTTP ${r.status}`);
    const mine = JSON.parse(localStorage.getItem("cityops.reports") || "[]");
    if (!mine.some((m) => m.number === body.number)) mine.unshift({ number: body.number, secret: body.secret, at: new Date().toISOString() });
    localStorage.setItem("cityops.reports", JSON.stringify(mine.slice(0, 20)));
    form.classList.add("hidden");
    document.getElementById("done").classList.remove("hidden");
    document.getElementById("done-number").textContent = body.number;
    document.getElementById("done-secret").textContent = body.secret;
    document.getElementById("done-link").href = `${body.status_url}?s=${encodeURIComponent(body.secret)}`;
    window.scrollTo(0, 0);
    key = uuid();
    renderMine();
  } catch (err) {
    fail(err.message || t("public.failed"));
  } finally {
    submitBtn.disabled = false;
    submitBtn.textContent = t("public.submit_again");
  }
});

function renderMine() {
  const mine = JSON.parse(localStorage.getItem("cityops.reports") || "[]");
  document.getElementById("mine").innerHTML = mine.length
    ? `<div class="muted" style="margin-top:10px">${esc(t("public.my_reports"))}</div>` +
      mine.map((m) => `<div class="queue-item"><a class="mono" href="/public/cases/${encodeURIComponent(m.number)}?s=${encodeURIComponent(m.secret)}">${esc(m.number)}</a><span class="muted">${esc(m.at.slice(0, 10))}</span></div>`).join("")
    : "";
}
renderMine();
