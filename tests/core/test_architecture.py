"""The import rules of docs/architecture.md, read from the source of civic/ (ast) and checked.

1. An area imports another area's model classes only when they are the shared models, from their home: User
   (civic.accounts.models) and the models of civic.communities.models (places, memberships, roles). Anything
   else of another area is reached through that area's service or another public module of it (functions
   and queries, not model classes). civic.privacy is the one named exception: it exports and erases a
   person's or a community's data in every area, so it reads every area's tables.
2. civic.core is at the bottom: it imports no area, except the shared models.
3. civic.ledger is just above it: it imports no other area, except the shared models.

The framework glue (civic.extensions, civic.config, civic.web, civic.api's helpers, civic.worker's @job) may
be imported by anyone; the application shell (civic/__init__.py, cli, demo, worker, the API registration in
civic.api) puts the areas together and is not an area.
"""
import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from civic.extensions import db

CIVIC = Path(__file__).resolve().parents[2] / "civic"
NOT_AREAS = {"core", "api", "translations"}
AREAS = {p.name for p in CIVIC.iterdir() if (p / "__init__.py").exists()} - NOT_AREAS
SHARED_MODELS_MODULE = "civic.communities.models"
SHARED_MODELS = {("civic.accounts.models", "User")}
PRIVACY = "privacy"  # the named exception to rule 1

# Known breaks of the rules, each with the reason it is still here and who removes it. The test fails when an
# entry no longer happens, so that the list only shrinks. Format: (importing module, imported module).
ALLOWED = {
    # The ledger registers its seeders and its budget setting with communities and rules; badges, which
    # react to a signal sent after a posting commits (item 2), notify the resident.
    ("civic.ledger.service", "civic.communities.service"),
    ("civic.ledger.service", "civic.rules.service"),
    ("civic.ledger.gamification", "civic.notifications.service"),
    ("civic.ledger.gamification", "civic.communities.service"),
}


def _module_name(path):
    parts = path.relative_to(CIVIC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(module, source, is_package=False):
    """(imported module, imported name or None) for each civic import in `source`, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("civic."):
                    yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            if base != "civic" and not base.startswith("civic."):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if _is_package(base) and importlib.util.find_spec(submodule) is not None:
                    yield submodule, None
                else:
                    yield base, alias.name


def _is_package(name):
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def _area(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in AREAS | {"core"} else None


def _model_names(module, name):
    """The model classes that importing `name` from `module` brings in; importing a whole module brings in
    models when it is a `models` module (another module is used for its functions)."""
    target = importlib.import_module(module)
    if name is None:
        return {n for n, obj in vars(target).items()
                if isinstance(obj, type) and issubclass(obj, db.Model)} if module.endswith(".models") else set()
    obj = getattr(target, name, None)
    return {name} if isinstance(obj, type) and issubclass(obj, db.Model) else set()


def _shared(module, name):
    """True when the import is of the shared models, from their home (not re-exported by another module)."""
    return module == SHARED_MODELS_MODULE or (module, name) in SHARED_MODELS


def breaks(module, source, is_package=False):
    """The imports of `module` (its `source`) that break the rules: a set of (module, imported module)."""
    found = set()
    here = _area(module)
    if here is None:
        return found
    for target, name in _imports(module, source, is_package):
        there = _area(target)
        if there is None or there == here or there == "core":  # everyone may import core
            continue
        if here in ("core", "ledger"):  # rules 2 and 3: nothing above, except the shared models
            if not _shared(target, name):
                found.add((module, target))
        elif here != PRIVACY and _model_names(target, name) and not _shared(target, name):  # rule 1
            found.add((module, target))
    return found


def all_breaks():
    found = set()
    for path in sorted(CIVIC.rglob("*.py")):
        if "translations" in path.parts:
            continue
        found |= breaks(_module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    return found


def test_no_import_breaks_the_architecture_rules():
    """Every import in civic/ keeps the rules of docs/architecture.md, but for the commented known breaks."""
    found = all_breaks()
    assert found - ALLOWED == set(), "imports that break docs/architecture.md: " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(found - ALLOWED))


def test_the_known_breaks_list_only_shrinks():
    """An entry of ALLOWED that no longer happens is removed, so that it cannot come back unnoticed."""
    found = all_breaks()
    assert ALLOWED - found == set(), "fixed: remove from ALLOWED: " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(ALLOWED - found))


@pytest.mark.parametrize(("module", "source", "target"), [
    ("civic.merit.example", "from civic.ledger.models import Account\n", "civic.ledger.models"),
    ("civic.merit.example", "from civic.ledger import models\n", "civic.ledger.models"),
    ("civic.merit.example", "import civic.shop.models\n", "civic.shop.models"),
    ("civic.merit.example", "def f():\n    from civic.grid.models import Case\n", "civic.grid.models"),
    ("civic.shop.example", "from ..ledger.models import Account\n", "civic.ledger.models"),
    ("civic.core.example", "from civic.rules import service\n", "civic.rules.service"),
    ("civic.ledger.example", "from civic.notifications.service import notify\n", "civic.notifications.service"),
    ("civic.core.example", "from civic.grid.models import GridRole\n", "civic.grid.models"),  # shared, not at home
])
def test_the_checker_sees_each_kind_of_break(module, source, target):
    """The checker itself can fail: another area's model, core or the ledger reaching up, in each import form."""
    assert breaks(module, source) == {(module, target)}


def test_the_checker_lets_the_rules_through():
    """Services, the shared models, the area's own models, privacy and the shell are not breaks."""
    allowed = """
from civic.accounts.models import User
from civic.communities.models import Community, GridRole, Membership
from civic.core.permissions import can
from civic.extensions import db
from civic.ledger import service as ledger
from civic.merit.models import Claim
from civic.notifications.service import notify
"""
    assert breaks("civic.merit.example", allowed) == set()
    assert breaks("civic.core.example", "from civic.communities.models import AreaAdmin, Membership\n") == set()
    assert breaks("civic.ledger.example", "from civic.accounts.models import User\n") == set()
    assert breaks("civic.privacy.example", "from civic.shop.models import Order\n") == set()
    assert breaks("civic.demo", "from civic.shop.models import Order\n") == set()
