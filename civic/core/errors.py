"""Domain errors: raised by services, turned into flash messages or JSON by the edges."""
from flask_babel import gettext

from civic.core.i18n import N_


class DomainError(Exception):
    """A rule was broken. `message` is a msgid shown to the person in their language."""

    status = 400
    reason = "domain_error"

    def __init__(self, message=None, reason=None, **params):
        self.msgid = message or self.default_message
        self.params = params
        if reason:
            self.reason = reason
        super().__init__(self.msgid)

    default_message = N_("That could not be done.")

    @property
    def message(self):
        """The message translated into the current request's language."""
        text = gettext(self.msgid)
        return text % self.params if self.params else text


class NotFound(DomainError):
    status = 404
    reason = "not_found"
    default_message = N_("Not found.")


class PermissionDenied(DomainError):
    status = 403
    reason = "forbidden"
    default_message = N_("You do not have permission to do that.")


class Conflict(DomainError):
    status = 409
    reason = "conflict"
    default_message = N_("That conflicts with the current state.")


class Invalid(DomainError):
    status = 422
    reason = "invalid"
    default_message = N_("Please check what you entered.")


class TooManyAttempts(DomainError):
    status = 429
    reason = "too_many_attempts"
    default_message = N_("Too many attempts. Please wait and try again.")
