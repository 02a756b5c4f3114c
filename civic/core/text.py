"""Text as a person typed it, checked once for every area."""
from civic.core.errors import Invalid
from civic.core.i18n import N_

TOO_LONG = N_("Please keep it under %(n)s characters.")


def clean_text(value, limit, message=None, *, too_long=TOO_LONG):
    """The text stripped; Invalid(`message`) when empty and a message is given, Invalid(`too_long`, n=`limit`)
    when over `limit`."""
    value = (value or "").strip()
    if message and not value:
        raise Invalid(message)
    if len(value) > limit:
        raise Invalid(too_long, n=limit)
    return value
