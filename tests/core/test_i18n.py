"""Chinese by default, English available, every message translated."""
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "_l": None, "N_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2),
            # domain errors take their msgid first (see Makefile BABEL_KEYWORDS)
            "Invalid": None, "Conflict": None, "NotFound": None, "PermissionDenied": None,
            "TooManyAttempts": None, "DomainError": None}


def _extracted():
    method_map = [("civic/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=KEYWORDS, options_map={"templates/**.html": {}}
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_has_a_chinese_translation():
    """Each string marked for translation in code and templates has a zh_CN translation."""
    with open(ROOT / "civic/translations/zh_Hans_CN/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}
    missing = sorted(m for m in _extracted() if not translated.get(m))
    assert missing == [], "untranslated (run 'make messages' and translate): " + "; ".join(missing[:20])


def test_chinese_is_the_default(client):
    """A visitor sees Chinese."""
    page = client.get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "注册" in page


def test_switch_to_english(client):
    """A visitor can switch to English; the choice sticks in the session."""
    client.post("/language", data={"locale": "en"})
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page and "Sign up" in page


def test_saved_language_follows_the_person(app, client, auth, world):
    """A signed-in person's saved language is used on any device."""
    auth.login()
    client.post("/me/preferences", data={"locale": "en"})
    other = app.test_client()
    other.post("/login", data={"phone": world.committee.phone, "password": "correct-horse-1"})
    assert "Sign out" in other.get("/me").get_data(as_text=True)


def test_elder_mode_marks_the_page(client, auth, world):
    """Elder mode adds the class that enlarges text and buttons and hides extra tiles."""
    auth.login()
    before = client.get("/").get_data(as_text=True)
    assert "<body" in before and "elder" not in before.split("<body", 1)[1].split(">", 1)[0]
    client.post("/me/preferences", data={"locale": "zh_CN", "elder_mode": "y"})
    page = client.get("/").get_data(as_text=True)
    assert '<body class="elder' in page
    assert "未读" not in page  # the notifications tile is left out in elder mode
