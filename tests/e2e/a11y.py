"""Accessibility checks run inside the page: accessible names of form controls, the keyboard
focus path, and WCAG 2.x contrast ratios of the text as rendered (getComputedStyle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page

# Every form control (and button) without an accessible name from a <label>, aria-label or
# aria-labelledby (buttons may also be named by their text). A name must contain a letter or a
# digit: "＋" or "★" alone says nothing to a screen reader.
UNNAMED_JS = """
(root) => {
  const scope = root || document;
  const text = (el) => (el ? (el.innerText || el.textContent || "").trim() : "");
  const named = (s) => /[\\p{L}\\p{N}]/u.test(s || "");
  const out = [];
  for (const el of scope.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden") continue;
    const aria = (el.getAttribute("aria-label") || "").trim();
    const ids = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
    const by = ids.map((id) => text(document.getElementById(id))).join(" ").trim();
    const labels = [...(el.labels || [])].map(text).join(" ").trim();
    const own = el.tagName === "BUTTON" ? text(el) : "";
    const name = aria || by || labels || own;
    if (!named(name)) out.push(el.outerHTML.slice(0, 160));
  }
  return out;
}
"""

# WCAG relative luminance and contrast of every visible text element against the background
# it is painted on (ancestors' background colours composed, alpha included).
CONTRAST_JS = """
(skip) => {
  const parse = (s) => {
    const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage && cs.backgroundImage !== "none" && !cs.backgroundImage.startsWith("url")) {
        return { gradient: true };
      }
      const c = parse(cs.backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return { color: bg };
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const out = [];
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (skip && el.closest(skip)) continue;
    if (el.closest("[disabled], .hidden, .sr-only, script, style, option")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (!r.width || !r.height || cs.visibility === "hidden" || Number(cs.opacity) === 0) continue;
    const bg = background(el);
    if (bg.gradient) continue;
    const fg = over(parse(cs.color), bg.color);
    const size = parseFloat(cs.fontSize);
    const bold = Number(cs.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const value = ratio(fg, bg.color);
    const key = name(el) + cs.color + bg.color.join();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      element: name(el), text: [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join(" ").slice(0, 30),
      color: cs.color, background: "rgb(" + bg.color.slice(0, 3).map(Math.round).join(", ") + ")",
      size, large, ratio: Math.round(value * 100) / 100, required: large ? 3 : 4.5,
    });
  }
  return out;
}
"""

# What the keyboard focus is on, where it is on the page, and whether it is visibly marked (an
# outline on the element, or on its label for a visually hidden file input).
FOCUS_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect();
  const ring = (e) => {
    if (!e) return false;
    const cs = getComputedStyle(e);
    return cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2;
  };
  const fixed = (() => { for (let e = el; e; e = e.parentElement) if (getComputedStyle(e).position === "fixed") return true; return false; })();
  return {
    key: el.id || el.getAttribute("name") || el.dataset.group || el.dataset.type || (el.innerText || "").trim().slice(0, 20) || el.tagName,
    tag: el.tagName, x: r.left + scrollX, y: r.top + scrollY, fixed,
    visible: ring(el) || ring(el.closest("label")),
  };
}
"""


@dataclass
class Focus:
    key: str
    tag: str
    x: float
    y: float
    fixed: bool
    visible: bool


def unnamed_controls(page: Page, root: str | None = None) -> list[str]:
    handle = page.locator(root).element_handle() if root else None
    result: list[str] = page.evaluate(UNNAMED_JS, handle)
    return result


def contrast(page: Page, skip: str = ".leaflet-container") -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(CONTRAST_JS, skip)
    return result


def low_contrast(page: Page, skip: str = ".leaflet-container") -> list[dict[str, Any]]:
    return [c for c in contrast(page, skip) if c["ratio"] < c["required"]]


def tab_path(page: Page, steps: int) -> list[Focus]:
    """Press Tab `steps` times; where the focus went each time."""
    out = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUS_JS)
        if f is None:
            break
        out.append(Focus(**f))
    return out
