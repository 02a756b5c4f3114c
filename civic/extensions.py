"""Extension objects, bound to the app in create_app()."""
import flask_sqlalchemy.model
import marshmallow as ma
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import Session, declared_attr

from civic.core.tenancy import distribution_key, install_reload_routing

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Model(flask_sqlalchemy.model.Model):
    """The models' base: a distributed table's key includes its distribution column (civic.core.tenancy)."""

    @classmethod
    def __table_cls__(cls, *args, **kwargs):
        table = type(cls).__table_cls__(cls, *args, **kwargs)
        if table is not None:
            identity = distribution_key(table)
            if identity:
                table.info["identity"] = identity
        return table

    @declared_attr.directive
    def __mapper_args__(cls):
        table = cls.__dict__.get("__table__")
        identity = table.info.get("identity") if table is not None else None
        return {"primary_key": identity} if identity else {}


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), model_class=Model)
install_reload_routing(Session)  # a reload names its community: one shard on Citus (civic.core.tenancy)
migrate = Migrate()
login_manager = LoginManager()


class ErrorSchema(ma.Schema):
    """The one shape of every API error."""

    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status phrase"})
    message = ma.fields.String(metadata={"description": "What went wrong, in the caller's language"})
    errors = ma.fields.Dict(metadata={"description": "Field errors, by location then field name"})
    reason = ma.fields.String(metadata={"description": "Stable machine-readable reason for domain errors"})


class CivicApi(Api):
    ERROR_SCHEMA = ErrorSchema


api = CivicApi()
babel = Babel()
csrf = CSRFProtect()
