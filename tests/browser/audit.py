"""Measuring rendered pages in Chromium: axe-core (vendored here, never served to users) and the layout
rules of a phone screen — no short label broken inside a word, tap targets of at least 44×44 px, no text
smaller than 14 px."""
from pathlib import Path

AXE = Path(__file__).with_name("vendor") / "axe.min.js"

# A short label (a chip, a price, a star level, a button, a heading) never breaks inside a word: a line may end
# only at a space or after punctuation. Longer text is a sentence and wraps as it must.
SHORT_LABEL = 12
MIN_TAP = 44
MIN_TEXT = 14

_LAYOUT_JS = """
([shortLabel, minTap, minText]) => {
  const visible = (el) => {
    const closed = el.closest('details:not([open])');
    if (closed && !el.closest('summary')) return false;  // folded away: not on screen
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().replace(/\\s+/g, ' ');
    const classes = el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    return el.tagName.toLowerCase() + classes + ' "' + text.slice(0, 30) + '"';
  };
  // A line may end at a space or after punctuation; anywhere else (between two Chinese characters, inside a
  // number or a Latin word) the label is broken inside a word.
  const OK_BEFORE = /[\\s，。、；：？！,.;:?!）)\\]】·\\/–—-]/, OK_AFTER = /[\\s（(【]/;
  const breaksInsideAWord = (node) => {
    const data = node.data, range = document.createRange();
    let previousTop = null;
    for (let i = 0; i < data.length; i++) {
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = [...range.getClientRects()].find((r) => r.width > 0);
      if (!rect) continue;
      const top = Math.round(rect.top);
      if (previousTop !== null && top > previousTop + 1) {
        const before = data.slice(0, i).trimEnd().slice(-1), after = data[i];
        if (!(OK_BEFORE.test(before) || OK_AFTER.test(after) || /\\s/.test(data[i - 1]))) return true;
      }
      previousTop = top;
    }
    return false;
  };
  const broken = [], small = [], tiny = [];
  // 1. Short labels: the text of one text node that takes more than one line.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seenTiny = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest('svg, script, style, noscript, .leaflet-container')
        || !visible(parent)) continue;
    const size = parseFloat(getComputedStyle(parent).fontSize);
    if (size < minText && !seenTiny.has(parent)) {
      seenTiny.add(parent);
      tiny.push(describe(parent) + ' ' + size + 'px');
    }
    if ([...text].length > shortLabel) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set();
    for (const rect of range.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top));
    if (tops.size > 1 && breaksInsideAWord(node)) broken.push(describe(parent) + ' on ' + tops.size + ' lines');
  }
  // 2. Tap targets. Links inside a sentence are exempt (WCAG 2.5.8); a checkbox counts with its label.
  const tappable = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  for (const el of document.querySelectorAll(tappable)) {
    if (!visible(el) || el.closest('.leaflet-control-attribution')) continue;
    if (el.tagName === 'A') {
      const parent = el.parentElement;
      const inSentence = [...parent.childNodes].some((n) => n !== el && n.nodeType === 3 && n.textContent.trim());
      if (inSentence && getComputedStyle(el).display === 'inline') continue;
    }
    let box = el.getBoundingClientRect();
    const label = el.closest('label') || (el.id && document.querySelector('label[for="' + el.id + '"]'));
    if ((el.type === 'checkbox' || el.type === 'radio') && label) box = label.getBoundingClientRect();
    if (box.width < minTap - 0.5 || box.height < minTap - 0.5) {
      small.push(describe(el) + ' ' + Math.round(box.width) + 'x' + Math.round(box.height));
    }
  }
  // 3. Every control can be brought into view clear of the fixed bottom bar (scroll-padding-bottom).
  const covered = [];
  const nav = document.querySelector('.bottom-nav');
  if (nav) {
    const focusable = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
    for (const el of document.querySelectorAll(focusable)) {
      if (!visible(el) || nav.contains(el) || el.closest('.topbar, .leaflet-container')) continue;
      el.scrollIntoView({block: 'nearest'});
      const r = el.getBoundingClientRect(), top = nav.getBoundingClientRect().top;
      if (r.bottom > top + 0.5 && r.height < top) covered.push(describe(el) + ' ' + Math.round(r.bottom - top) + 'px');
    }
    window.scrollTo(0, 0);
  }
  return {broken, small, tiny, covered, overflow: document.documentElement.scrollWidth - window.innerWidth};
}
"""


def axe_violations(page):
    """Run axe-core on the page; return its violations as short lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, not a <script>: the page's CSP (script-src 'self') stays as served.
        page.evaluate("(source) => { (0, eval)(source); }", AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '));
    }""")
    return result


def layout_problems(page):
    """Measure the rendered page: labels broken inside a word, small tap targets, tiny text, sideways scroll."""
    found = page.evaluate(_LAYOUT_JS, [SHORT_LABEL, MIN_TAP, MIN_TEXT])
    problems = [f"broken label: {b}" for b in found["broken"]]
    problems += [f"tap target under {MIN_TAP}px: {s}" for s in found["small"]]
    problems += [f"text under {MIN_TEXT}px: {t}" for t in found["tiny"]]
    problems += [f"under the bottom bar: {c}" for c in found["covered"]]
    if found["overflow"] > 0:
        problems.append(f"page scrolls sideways by {found['overflow']}px")
    return problems
