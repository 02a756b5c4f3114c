"""Checks on a JSON request body before any view or schema reads it.

Python's parser accepts JSON that nothing behind it can handle: a lone surrogate (`"\\ud800"`) is a valid
escape but no UTF-8 database can store it; nesting hundreds deep exhausts the recursion of whatever walks
it; a 5000-digit integer is refused by `int()` with a ValueError that the API's parser does not expect,
and one of 25 digits overflows every integer column. `check_json_body` parses the body with bounds and
raises `HostileJSON` with a message for the caller; the request is then refused with 400 before a view
runs (civic.web). Syntax errors are left to the API's parser, which already answers them with 400.
"""
import json
import math
import re

from civic.core.i18n import N_

MAX_DEPTH = 32                 # the deepest real body (a patrol track, an area boundary) is under 6
MAX_SAFE_INTEGER = 2**53 - 1   # RFC 7493 (I-JSON): integers beyond this are not exchanged exactly
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: no database text holds them


class HostileJSON(ValueError):
    """A JSON body that parses but must not reach a view; `message` is for the caller (msgid)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _integer(text):
    if len(text) > 17:  # cheap refusal before int() (which itself gives up at 4300 digits)
        raise HostileJSON(N_("A number in the request is too large."))
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise HostileJSON(N_("A number in the request is too large."))
    return value


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise HostileJSON(N_("A number in the request is too large."))
    return value


def _constant(name):
    raise HostileJSON(N_("A number in the request is too large."))  # NaN, Infinity, -Infinity


def check_json_body(raw):
    """Parse `raw` (bytes or str) with bounds; return the value, None when it is not JSON at all (left to the
    API's own parser), or raise HostileJSON: nesting deeper than MAX_DEPTH, an integer beyond
    ±(2**53 - 1), a float beyond range, NaN/Infinity, a NUL or a lone surrogate in any string or key."""
    try:
        value = json.loads(raw, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except HostileJSON:
        raise
    except RecursionError:
        raise HostileJSON(N_("The request is nested too deeply.")) from None
    except ValueError:  # not JSON (or not UTF-8): the API's parser answers it
        return None
    stack = [(value, 1)]
    while stack:  # iterative: a deep body cannot exhaust the interpreter's stack here
        item, depth = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise HostileJSON(N_("The request contains characters that cannot be stored."))
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise HostileJSON(N_("The request is nested too deeply."))
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return value
