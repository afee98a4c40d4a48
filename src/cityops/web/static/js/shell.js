// The staff shell: the clock, and g-prefixed shortcuts to the main pages (g q, g m, g d, g f).
import { typing } from "./api.js";

const clock = document.getElementById("clock");
function tick() {
  if (!clock) return;
  const d = new Date();
  const timeZone = document.querySelector('meta[name="tz"]')?.content || undefined;
  clock.textContent = d.toLocaleTimeString("zh-CN", { hour12: false, timeZone });
}
tick();
setInterval(tick, 1000);

let leader = 0;
document.addEventListener("keydown", (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "g") { leader = Date.now(); return; }
  if (Date.now() - leader < 1200) {
    const link = document.querySelector(`.nav a[data-key="${e.key}"]`);
    leader = 0;
    if (link) { e.preventDefault(); location.href = link.href; }
  }
});
