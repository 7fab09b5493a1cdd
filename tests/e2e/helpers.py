"""What the page tests share: driving the page, reading the stored run back, comparing them, layout checks."""
from __future__ import annotations

import math
import os
import re

import pytest

from tokenrace.render import fmt_cost

try:
    from playwright.sync_api import expect
except ImportError:      # pragma: no cover - playwright is in the test extras
    if os.environ.get("TOKENRACE_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright Python package is missing (pip install -e '.[test]')", allow_module_level=True)

END = re.compile(r"^(finished|partial|stopped)$")
STREAM_TIMEOUT = 20_000


# ---------------------------------------------------------------------------------------------- helpers
def open_page(new_page, base_url: str, path: str = "/", **opts):
    page, watch = new_page(base_url, **opts)
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    return page, watch


def choose(page, names: list[str]) -> None:
    """Tick exactly these providers, by clicking their chips as a person would."""
    toggles = page.locator("input[data-provider-toggle]")
    expect(toggles.first).to_be_attached()
    for i in range(toggles.count()):
        box = toggles.nth(i)
        name = box.get_attribute("data-provider-toggle")
        if box.is_checked() != (name in names):
            page.locator(f'label.chip:has(input[data-provider-toggle="{name}"])').click()
    assert sorted(page.eval_on_selector_all("input[data-provider-toggle]:checked", "els => els.map(e => e.value)")) \
        == sorted(names)


def start(page, prompt: str, names: list[str], max_tokens: int | None = None) -> str:
    choose(page, names)
    page.fill("[data-role=prompt]", prompt)
    if max_tokens is not None:
        page.fill("[data-role=max-tokens]", str(max_tokens))
    page.press("[data-role=prompt]", "Control+Enter")       # the keyboard shortcut starts the run
    page.wait_for_function("() => window.tokenrace.runId !== null")
    return page.evaluate("() => window.tokenrace.runId")


def wait_end(page) -> None:
    expect(page.locator("[data-role=run-status]")).to_have_attribute("data-state", END, timeout=STREAM_TIMEOUT)


def stored(page, run_id: str) -> dict:
    resp = page.request.get(f"/api/runs/{run_id}")
    assert resp.ok, resp.text()
    return resp.json()


def col(page, name: str):
    """The provider's column: the one element with data-provider=NAME (a stable hook other tools use)."""
    return page.locator(f'[data-provider="{name}"]')


def fmt_ms(ms: float) -> str:
    if ms < 1000:
        return f"{math.floor(ms + 0.5)} ms"
    return f"{ms / 1000:.2f} s"


def assert_column_matches(page, r: dict) -> None:
    """One provider's column shows exactly the stored result: text, status and figures."""
    c = col(page, r["provider"])
    expect(c.locator("[data-role=status]")).to_have_attribute("data-status", r["status"])
    assert c.locator("[data-role=raw]").text_content() == r["text"]
    assert c.get_attribute("data-mismatch") is None, "the streamed deltas did not add up to the stored text"
    ttft, rate = c.locator("[data-role=ttft]"), c.locator("[data-role=rate]")
    if r["ttft_ms"] is None:
        assert ttft.text_content() == "—"
    else:
        assert float(ttft.get_attribute("data-value")) == pytest.approx(r["ttft_ms"], abs=1e-9)
        assert ttft.text_content() == fmt_ms(r["ttft_ms"])
    if r["tokens_per_s"] is None:
        assert rate.text_content() == "—"
    else:
        assert float(rate.get_attribute("data-value")) == pytest.approx(r["tokens_per_s"], abs=1e-9)
        shown = float(rate.text_content().split()[0])
        assert shown == pytest.approx(r["tokens_per_s"], abs=0.51)
    tokens = c.locator("[data-role=tokens]")
    if r["output_tokens"] is not None:
        assert int(tokens.get_attribute("data-value")) == r["output_tokens"]
        # an estimate keeps its "~" (as in `tokenrace run` and the TUI)
        assert tokens.text_content() == ("~" if r["token_source"] == "estimate" else "") + f"{r['output_tokens']:,}"
    cost = c.locator("[data-fig=cost]")
    if r.get("cost_usd") is None:
        expect(cost).to_be_hidden()                       # no price: no cost at all, not a placeholder
    else:
        expect(cost).to_be_visible()
        assert cost.locator("[data-role=cost]").text_content() == fmt_cost(r["cost_usd"], r["cost_estimated"])


def assert_clean(watch) -> None:
    assert watch.errors == [], watch.errors
    assert watch.csp_violations() == [], watch.csp_violations()
    assert watch.foreign_requests() == [], watch.foreign_requests()


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")




# the page's crown rule (tokenrace/dashboard/noise.js), to say what the page must show for real results
RULE = {"ttft": (0.10, 25.0, True), "rate": (0.10, 2.0, False)}


def clear_winner(results: list[dict], key: str) -> str | None:
    """The provider the noise rule crowns on ttft_ms ("ttft") or tokens_per_s ("rate"), or None."""
    field = "ttft_ms" if key == "ttft" else "tokens_per_s"
    rel, absolute, lower = RULE[key]
    ok = sorted((r for r in results if r["status"] == "ok" and r[field] is not None),
                key=lambda r: r[field], reverse=not lower)
    if len(ok) < 2:
        return None
    lead = abs(ok[1][field] - ok[0][field])
    return ok[0]["provider"] if lead / ok[1][field] > rel and lead > absolute else None


# Every element that pokes out: past the viewport's edges, or with content wider than its box. Deliberate
# truncation (text-overflow: ellipsis, the full text in a title or elsewhere) and the scroll boxes of code
# blocks, tables and text areas are allowed; everything else must fit.
OVERFLOWS_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const describe = (el) => el.tagName.toLowerCase() + (el.dataset.role ? `[data-role=${el.dataset.role}]` : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const scrollBox = (el) => el.matches("pre, table, textarea, .md table, .reasoning-text");
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const cs = getComputedStyle(p);
      if (cs.overflowX !== "visible" || cs.position === "fixed") return true;
    }
    return false;
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("[hidden], .sprite, .sr-only, template, svg")) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > vw + 1 || r.left < -1) && !clipped(el)) bad.push(`${describe(el)} reaches ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 && cs.textOverflow !== "ellipsis" && !scrollBox(el)) {
      bad.push(`${describe(el)}: content ${el.scrollWidth} px wide in ${el.clientWidth} px`);
    }
  }
  if (document.documentElement.scrollWidth > vw + 1) bad.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
  return bad;
}"""


def overflows(page) -> list[str]:
    return page.evaluate(OVERFLOWS_JS)


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    vp = page.viewport_size
    return box is not None and box["y"] >= 0 and box["x"] >= 0 and box["y"] + box["height"] <= vp["height"] + 0.5 \
        and box["x"] + box["width"] <= vp["width"] + 0.5


def truths(live) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """What the simulator received: (profile, prompt, history) of every request so far."""
    async def read():
        return [(t.profile, t.prompt, [tuple(m) for m in t.history]) for t in live.sim.truths]
    return live.call(read())


def delta_e(hex1: str, hex2: str) -> float:
    """CIEDE2000 colour difference of two sRGB colours (#rrggbb)."""
    l1, l2 = _lab(hex1), _lab(hex2)
    L1, a1, b1 = l1
    L2, a2, b2 = l2
    cb = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cb ** 7 / (cb ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p, h2p = math.degrees(math.atan2(b1, a1p)) % 360, math.degrees(math.atan2(b2, a2p)) % 360
    dlp, dcp = L2 - L1, c2p - c1p
    dhp = 0.0 if c1p * c2p == 0 else ((h2p - h1p + 180) % 360) - 180
    dHp = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dhp) / 2)
    lbp, cbp = (L1 + L2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbp = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbp = (h1p + h2p) / 2
    else:
        hbp = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hbp - 30)) + 0.24 * math.cos(math.radians(2 * hbp))
         + 0.32 * math.cos(math.radians(3 * hbp + 6)) - 0.20 * math.cos(math.radians(4 * hbp - 63)))
    dth = 30 * math.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cbp ** 7 / (cbp ** 7 + 25 ** 7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / math.sqrt(20 + (lbp - 50) ** 2)
    sc, sh = 1 + 0.045 * cbp, 1 + 0.015 * cbp * t
    rt = -math.sin(math.radians(2 * dth)) * rc
    return math.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dHp / sh) ** 2 + rt * (dcp / sc) * (dHp / sh))


def _lab(hexcolor: str) -> tuple[float, float, float]:
    h = hexcolor.lstrip("#")
    lin = [(c / 12.92) if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [v ** (1 / 3) if v > 216 / 24389 else (24389 / 27 * v + 16) / 116 for v in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
