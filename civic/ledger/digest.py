"""Daily ledger digests: a resident can check that history was not rewritten (issue 10).

For each community and each local day (civic.core.clock: China time, as the ledger's periods) from its first
transaction on, the worker stores one `Digest`:

    leaf(t)  = SHA-256( line(t) )                       (hex; line = canonical JSON, UTF-8)
    digest   = SHA-256( prev_digest + "\\n" + leaf(t1) + "\\n" + leaf(t2) + "\\n" + ... )

where t1, t2 … are the day's transactions in id order, `prev_digest` is the previous day's digest
(64 zeros for the community's first day) and line(t) is the canonical JSON of the transaction with
its postings (see `canonical_line` and docs/ledger-digest.md). Publishing the leaves lets anyone
recompute a day's digest without seeing other residents' purchases; a resident sees the full line of
their own transactions and of merit awards and deductions (already public on the notice board).
Days without transactions get a digest too (tx_count 0), so the chain has no gaps. A digest is written
once and never changed; `verify_digests()` recomputes all of them and names the first day that no longer matches.
"""
import hashlib
import json
from datetime import timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from civic.core.clock import local_date, local_day_start, resolve
from civic.extensions import db
from civic.ledger.models import Account, Digest, Posting, Transaction

GENESIS = "0" * 64
# A day is digested only once it has been over for this long, so that a transaction begun just before
# midnight and committed just after is inside its day's digest.
GRACE = timedelta(minutes=10)
MAX_DAYS_PER_RUN = 400


def day_bounds(day):
    """[start, end) of a local day as naive UTC times (as the ledger stores them)."""
    return local_day_start(day), local_day_start(day, plus_days=1)


def _timestamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_line(txn, postings):
    """One transaction as one line of canonical JSON (UTF-8, keys sorted, no spaces).

    `postings` are (posting id, account key, amount, balance_after) of the transaction, in posting-id order."""
    record = {
        "id": txn.id, "kind": txn.kind, "category": txn.category, "memo": txn.memo, "source": txn.source,
        "reverses_id": txn.reverses_id, "created_at": _timestamp(txn.created_at),
        "postings": [[posting_id, key, amount, balance_after] for posting_id, key, amount, balance_after in postings],
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def day_lines(community_id, day):
    """The canonical lines of a community's transactions on a local day, in id order."""
    start, end = day_bounds(day)
    txns = db.session.scalars(select(Transaction).where(
        Transaction.community_id == community_id, Transaction.created_at >= start, Transaction.created_at < end)
        .order_by(Transaction.id)).all()
    if not txns:
        return []
    ids = [t.id for t in txns]
    legs = {}
    for txn_id, posting_id, key, amount, balance_after in db.session.execute(
        select(Posting.transaction_id, Posting.id, Account.key, Posting.amount, Posting.balance_after)
        .join(Account, and_(Account.community_id == Posting.community_id, Account.id == Posting.account_id))
        .where(Posting.community_id == community_id, Posting.transaction_id.in_(ids))
        .order_by(Posting.id)
    ):
        legs.setdefault(txn_id, []).append((posting_id, key, amount, balance_after))
    return [canonical_line(t, legs.get(t.id, [])) for t in txns]


def leaf(line):
    """The SHA-256 (hex) of one canonical line, as UTF-8 without a newline."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def chain_leaves(prev_digest, leaves):
    """The digest of a day from its leaves: SHA-256 over the previous digest and each leaf, one per line."""
    payload = prev_digest + "\n" + "".join(h + "\n" for h in leaves)
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def chain(prev_digest, lines):
    """The digest of a day from its canonical lines."""
    return chain_leaves(prev_digest, [leaf(line) for line in lines])


def _first_day(community_id):
    first = db.session.scalar(select(func.min(Transaction.created_at)).where(Transaction.community_id == community_id))
    return local_date(first) if first is not None else None


def last_complete_day(now):
    """The latest local day that is over (with the grace period)."""
    return local_date(now - GRACE) - timedelta(days=1)


def publish_digests(*, now=None, community_ids=None):
    """Write the missing digests of every community up to yesterday (local). Idempotent and safe with two
    workers: a day already written by another run is left as it is. Returns how many were written."""
    now = resolve(now)
    until = last_complete_day(now)
    if community_ids is None:
        community_ids = db.session.scalars(select(Transaction.community_id).distinct()
                                           .order_by(Transaction.community_id)).all()
    written = 0
    for community_id in community_ids:
        last = db.session.scalar(select(Digest).where(Digest.community_id == community_id)
                                 .order_by(Digest.day.desc()).limit(1))
        day = last.day + timedelta(days=1) if last else _first_day(community_id)
        prev = last.digest if last else GENESIS
        if day is None:
            continue
        for _n in range(MAX_DAYS_PER_RUN):
            if day > until:
                break
            lines = day_lines(community_id, day)
            row = Digest(community_id=community_id, day=day, tx_count=len(lines), digest=chain(prev, lines),
                         prev_digest=prev, created_at=now)
            try:
                with db.session.begin_nested():
                    db.session.add(row)
            except IntegrityError:  # another worker wrote this day: continue the chain from its row
                row = db.session.scalar(select(Digest).where(Digest.community_id == community_id, Digest.day == day))
            else:
                written += 1
            prev, day = row.digest, day + timedelta(days=1)
    db.session.flush()
    return written


def digests(community_id, *, before=None, limit=30):
    """A community's digests, newest first; `before` (a day) pages back."""
    query = select(Digest).where(Digest.community_id == community_id)
    if before is not None:
        query = query.where(Digest.day < before)
    return db.session.scalars(query.order_by(Digest.day.desc()).limit(limit)).all()


def digest_of(community_id, day):
    """A community's digest of one day, or None."""
    return db.session.scalar(select(Digest).where(Digest.community_id == community_id, Digest.day == day))


def verify_digests():
    """Recompute every stored digest. Returns a list of breaches, the first mismatching day of each community
    first (later days of a broken chain are not listed: they depend on it)."""
    breaches = []
    community_ids = db.session.scalars(select(Digest.community_id).distinct().order_by(Digest.community_id)).all()
    for community_id in community_ids:
        prev = GENESIS
        for row in db.session.scalars(select(Digest).where(Digest.community_id == community_id)
                                      .order_by(Digest.day)):
            lines = day_lines(community_id, row.day)
            expected = chain(prev, lines)
            if row.prev_digest != prev or row.digest != expected or row.tx_count != len(lines):
                breaches.append(f"community {community_id}: digest of {row.day.isoformat()} no longer matches "
                                f"(stored {row.digest[:12]}…, {row.tx_count} transactions; recomputed "
                                f"{expected[:12]}…, {len(lines)} transactions)")
                break
            prev = row.digest
    return breaches


def day_listing(community_id, day, *, reader_keys=None):
    """The day's transactions for checking: [{"id", "leaf", "line"}]. `line` is given for merit awards and
    deductions (public on the notice board anyway) and for transactions touching an account key in
    `reader_keys`; None as `reader_keys` shows every line (the committee)."""
    rows = []
    for line in day_lines(community_id, day):
        record = json.loads(line)
        keys = {posting[1] for posting in record["postings"]}
        visible = (reader_keys is None or record["kind"] in ("award", "deduction") or bool(keys & reader_keys))
        rows.append({"id": record["id"], "leaf": leaf(line), "line": line if visible else None})
    return rows


def on_board(community_id, *, limit=7):
    """The latest digests for the notice board (read only)."""
    return digests(community_id, limit=limit)

