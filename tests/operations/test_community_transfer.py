"""export-community and import-community: one community, its people and photos, moved into an empty
database at the same schema revision, comes back row for row with a clean ledger."""
import io
import json

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from civic.config import TestingConfig
from civic.extensions import db
from civic.privacy import service
from tests.sites import second_site


@pytest.fixture
def empty_site(app, tmp_path):
    """A second install: a new, migrated, empty database and a new uploads folder."""
    with second_site(app, tmp_path, "heads", "import", UPLOADS_DIR=str(tmp_path / "target-uploads")) as site:
        yield site


def _rows(site, community_id):
    with site.app_context():
        out = io.StringIO()
        service.write_community_export(community_id, out)
        data = json.loads(out.getvalue())
        db.session.remove()
    return data


def test_round_trip_into_an_empty_database(app, runner, empty_site, tmp_path):
    """Every community-owned row, the people, the place and the photos arrive; the ledger verifies; a
    second import is refused; so is an export from another schema revision."""
    from civic.core.uploads import save_photo
    from civic.demo import seed_demo
    from civic.merit.models import Claim

    app.config["UPLOADS_DIR"] = str(tmp_path / "source-uploads")
    try:
        with app.test_request_context():
            seed_demo()
            out = io.BytesIO()
            Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "JPEG")
            claim = db.session.scalars(select(Claim).order_by(Claim.id)).first()
            photo = save_photo(FileStorage(io.BytesIO(out.getvalue()), filename="x.jpg"), uploader=claim.created_by,
                               community_id=claim.community_id)
            claim.photos = [photo]
            community_id = claim.community_id
            db.session.commit()
            db.session.remove()
        export, photos = tmp_path / "c.json", tmp_path / "c-photos.tar.gz"
        result = runner.invoke(args=["export-community", str(community_id), "--out", str(export),
                                     "--photos", str(photos)])
        assert result.exit_code == 0, result.output
    finally:
        app.config["UPLOADS_DIR"] = TestingConfig.UPLOADS_DIR

    moved = empty_site.test_cli_runner().invoke(args=["import-community", str(export), "--photos", str(photos)])
    assert moved.exit_code == 0, moved.output
    before, after = _rows(app, community_id), _rows(empty_site, community_id)
    assert before["tables"] == after["tables"] and before["users"] == after["users"]
    assert sum(len(rows) for rows in after["tables"].values()) > 50
    with empty_site.app_context():
        from civic.core.uploads import photo_bytes

        assert photo_bytes(photo, community_id)[:2] == b"\xff\xd8"  # from the tarball into the row
        from civic.ledger.service import verify

        report = verify()
        assert report["breaches"] == [] and report["checked"]["postings"] > 0
        db.session.remove()

    again = empty_site.test_cli_runner().invoke(args=["import-community", str(export)])
    assert again.exit_code == 1
    data = json.loads(export.read_text())
    data["schema_revision"] = ["0001_foundation"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = empty_site.test_cli_runner().invoke(args=["import-community", str(tmp_path / "old.json")])
    assert old.exit_code == 1
