"""Marshmallow schemas of the passbook, levels, badges and leaderboards API."""
import marshmallow as ma
from flask_babel import gettext

from civic.core.lookup import MAX_ID


class Translated(ma.fields.String):
    """A stored msgid, shown in the caller's language."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else gettext(value)


class LevelSchema(ma.Schema):
    stars = ma.fields.Integer(metadata={"description": "0 to max_stars"})
    max_stars = ma.fields.Integer()
    name = Translated()
    lifetime = ma.fields.Integer(metadata={"description": "lifetime merit: awards minus deductions"})
    next_at = ma.fields.Integer(allow_none=True, metadata={"description": "lifetime merit of the next star"})
    to_next = ma.fields.Integer()
    progress = ma.fields.Integer(metadata={"description": "percent of the way to the next star"})


class BalanceSchema(ma.Schema):
    community_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    balance = ma.fields.Integer(metadata={"description": "points that can be used now"})
    lifetime = ma.fields.Integer()
    level = ma.fields.Nested(LevelSchema)
    owed = ma.fields.Integer(metadata={"description": "points still owed from deductions larger than the balance; "
                                                      "paid first from later credits, shop orders refused meanwhile"})
    reserved = ma.fields.Integer(metadata={"description": "points kept for approved deductions on public notice"})


class PersonQuerySchema(ma.Schema):
    user_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID),
                                metadata={"description": "another resident (committee only); default: me"})


class PassbookQuerySchema(PersonQuerySchema):
    cursor = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID),
                               metadata={"description": "next_cursor of the previous page"})
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))


class EntrySchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "posting id (also the cursor)"})
    transaction_id = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    kind = ma.fields.String()
    category = ma.fields.String(allow_none=True)
    memo = ma.fields.String()
    amount = ma.fields.Integer()
    balance_after = ma.fields.Integer(metadata={"description": "running balance after this entry"})
    reverses_id = ma.fields.Integer(allow_none=True)


class PassbookPageSchema(ma.Schema):
    entries = ma.fields.List(ma.fields.Nested(EntrySchema))
    next_cursor = ma.fields.Integer(allow_none=True, metadata={"description": "null on the last page"})


class BoardQuerySchema(ma.Schema):
    period = ma.fields.String(load_default="month", validate=ma.validate.OneOf(["month", "year", "all"]))
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                                metadata={"description": "a category code; default: all categories"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class BoardRowSchema(ma.Schema):
    rank = ma.fields.Integer()
    user_id = ma.fields.Integer()
    display_name = ma.fields.String()
    points = ma.fields.Integer()
    reached_at = ma.fields.DateTime(metadata={"description": "when the score was reached (earlier wins a tie)"})


class BoardSchema(ma.Schema):
    period = ma.fields.String()
    category = ma.fields.String(allow_none=True)
    rows = ma.fields.List(ma.fields.Nested(BoardRowSchema))


class BadgeSchema(ma.Schema):
    code = ma.fields.String()
    name = Translated()
    kind = ma.fields.String()
    threshold = ma.fields.Integer()
    category = ma.fields.String(allow_none=True)
    earned = ma.fields.Boolean()
    awarded_at = ma.fields.DateTime(allow_none=True)


# --- daily ledger digests (civic/ledger/digest.py, docs/ledger-digest.md) --------------------------

class DigestQuerySchema(ma.Schema):
    before = ma.fields.Date(load_default=None, metadata={"description": "next_before of the previous page"})
    limit = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=100))


class DigestSchema(ma.Schema):
    day = ma.fields.Date(metadata={"description": "local (China) calendar day"})
    tx_count = ma.fields.Integer(metadata={"description": "transactions of the community on that day"})
    digest = ma.fields.String(metadata={"description": "SHA-256 (hex) of prev_digest and the day's leaves"})
    prev_digest = ma.fields.String(metadata={"description": "the previous day's digest (64 zeros on the first day)"})
    created_at = ma.fields.DateTime()


class DigestPageSchema(ma.Schema):
    digests = ma.fields.List(ma.fields.Nested(DigestSchema), metadata={"description": "newest first"})
    next_before = ma.fields.Date(allow_none=True, metadata={"description": "null on the last page"})


class DigestLeafSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "transaction id"})
    leaf = ma.fields.String(metadata={"description": "SHA-256 (hex) of the canonical line"})
    line = ma.fields.String(allow_none=True, metadata={
        "description": "the canonical line: shown for merit awards and deductions, for your own transactions, "
                       "and to the committee; null otherwise"})


class DigestDaySchema(DigestSchema):
    transactions = ma.fields.List(ma.fields.Nested(DigestLeafSchema), metadata={"description": "in id order"})
