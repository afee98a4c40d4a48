// Small helpers shared by the pages: texts, JSON API calls with the session cookie, toasts.

const el = document.getElementById("i18n");
const texts = el ? JSON.parse(el.textContent) : {};
export const lang = document.documentElement.lang || "zh-CN";

/** A UI text from the page's catalog section `js`, with {name} placeholders filled. */
export function t(key, vars = {}) {
  const s = texts[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_error";
    this.details = err.details;
  }
}

/** fetch() against our own API: JSON in and out, errors as ApiError in the UI language. */
export async function api(path, { method = "GET", body, headers = {}, form } = {}) {
  const opts = { method, credentials: "same-origin", headers: { "Accept-Language": lang, ...headers } };
  if (form) {
    opts.body = form;
  } else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Upload one photo; resolves to the attachment id. */
export async function uploadPhoto(file) {
  const form = new FormData();
  form.append("file", file, file.name || "photo.jpg");
  const out = await api("/api/v1/attachments", { method: "POST", form });
  return out.id;
}

let toastTimer = null;
export function toast(message, bad = false) {
  let box = document.querySelector(".toast");
  if (!box) {
    box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "status");
    document.body.append(box);
  }
  box.textContent = message;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, bad ? 6000 : 3500);
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** True when the keyboard event is typing into a field (shortcuts stay out of the way). */
export function typing(e) {
  const tag = (e.target.tagName || "").toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable;
}

/** Image previews for a file input, into `host`. */
export function previewFiles(input, host) {
  host.replaceChildren();
  for (const f of input.files) {
    const img = document.createElement("img");
    img.alt = f.name;
    img.src = URL.createObjectURL(f);
    host.append(img);
  }
}

/** A random UUID (v4), also outside secure contexts (plain-http intranets). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
