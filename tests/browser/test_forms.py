"""Forms send what the pressed button says (issue 15): no template renders a hidden field beside buttons
or hand-written hidden inputs that carry a value by name. Every HTML page any test renders is checked as
well (tests/conftest.py `_guard_forms`), and the journeys in this folder press the real buttons."""
from tests.formcheck import form_clashes, template_clashes


def test_no_template_renders_hidden_fields_beside_valued_buttons():
    """Each form whose buttons or hand-written hidden inputs carry the value renders only the CSRF token."""
    assert template_clashes() == []


def test_the_check_sees_the_browser_bug():
    """The page check finds an empty hidden `decision` before the buttons, and a duplicated hidden name,
    and accepts the fixed form (CSRF token only, the button carries the value)."""
    broken = ('<form action="/r"><input id="csrf_token" name="csrf_token" type="hidden" value="x">'
              '<input id="decision" name="decision" type="hidden" value="">'
              '<button name="decision" value="approve">通过</button></form>'
              '<form action="/t"><input name="action" type="hidden" value="">'
              '<input type="hidden" name="action" value="agenda"><button>列入议程</button></form>')
    assert form_clashes(broken) == [
        "form '/r': hidden input 'decision' shares its name with a submit button",
        "form '/t': two hidden inputs named 'action'",
    ]
    fixed = ('<form action="/r"><input id="csrf_token" name="csrf_token" type="hidden" value="x">'
             '<button name="decision" value="approve">通过</button>'
             '<button type="button" name="decision">?</button></form>')
    assert form_clashes(fixed) == []
