"""Loading one community-owned row: the lookup every service uses for ids coming from a URL."""
from sqlalchemy import inspect, select

from civic.core.errors import NotFound
from civic.core.i18n import N_
from civic.extensions import db

# Ids are 32-bit signed integers in the database: a larger number is no row (and the database
# would refuse to compare with it), so check ids from forms against this before looking them up.
MAX_ID = 2**31 - 1


def get_in_community(model, community_id, object_id, *, lock=False, missing=N_("Not found.")):
    """The row of `model` with this id in this community (locked for update when asked), else NotFound.

    Looking up within the community is what keeps one community's ids useless in another's URLs.
    """
    if not lock:
        loaded = _loaded(model, community_id, object_id)
        if loaded is not None:
            return loaded
    query = select(model).where(model.community_id == community_id, model.id == object_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = db.session.scalar(query)
    if row is None:
        raise NotFound(missing)
    return row


def _loaded(model, community_id, object_id):
    """The row, when this request's session already holds it fully loaded and in this community: no query."""
    row = db.session.identity_map.get(db.session.identity_key(model, object_id))
    if row is None:
        return None
    state = inspect(row)
    if state.expired_attributes or state.deleted or state.detached or state.dict.get("community_id") != community_id:
        return None
    return row
