"""Find forms a browser would submit wrongly: a hidden input named like a submit button, or two hidden
inputs with one name. A browser sends every successful control in document order, and WTForms reads the
first value of a name, so the empty hidden `decision` rendered by `form.hidden_tag()` wins over the
button the person pressed (issue 15). Used on every HTML page the tests render and on every template."""
import re
from html.parser import HTMLParser
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = {"action": a.get("action", ""), "hidden": [], "buttons": []}
            self.forms.append(self._current)
        elif self._current is None or not a.get("name"):
            return
        elif tag == "input" and (a.get("type") or "").lower() == "hidden":
            self._current["hidden"].append(a["name"])
        elif (tag == "button" and (a.get("type") or "submit").lower() == "submit") or (
                tag == "input" and (a.get("type") or "").lower() in ("submit", "image")):
            self._current["buttons"].append(a["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def form_clashes(html):
    """Plain descriptions of every form in `html` whose submitted values a browser would get wrong."""
    parser = _Forms()
    parser.feed(html)
    problems = []
    for form in parser.forms:
        hidden = form["hidden"]
        for name in sorted(set(hidden) & set(form["buttons"])):
            problems.append(f"form {form['action']!r}: hidden input {name!r} shares its name with a submit button")
        for name in sorted({n for n in hidden if hidden.count(n) > 1}):
            problems.append(f"form {form['action']!r}: two hidden inputs named {name!r}")
    return problems


_FORM = re.compile(r"<form\b.*?</form>", re.S)
_NAMED_BUTTON = re.compile(r"<button[^>]*\bname=")
_HAND_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*\bname=')


def template_clashes(root=TEMPLATES):
    """Templates where `hidden_tag()` sits in a form whose buttons or hand-written hidden inputs carry
    values by name: there only the CSRF token may be rendered (`form.csrf_token`)."""
    problems = []
    for path in sorted(root.rglob("*.html")):
        source = path.read_text()
        for match in _FORM.finditer(source):
            block = match.group(0)
            if "hidden_tag()" in block and (_NAMED_BUTTON.search(block) or _HAND_HIDDEN.search(block)):
                line = source.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(root)}:{line}: use form.csrf_token, not hidden_tag(), "
                                "in a form whose buttons or hidden inputs carry the value")
    return problems
