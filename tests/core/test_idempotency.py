"""The Idempotency-Key header (civic.api.idempotency): one scheme for every API POST that creates something."""
import threading

import pytest
from sqlalchemy import func, select

from civic.api.idempotency import RequestKey
from civic.deliberation.models import Topic
from civic.extensions import db
from civic.shop.models import Item


def _count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _topics(world):
    return f"/api/v1/deliberation/communities/{world.a.id}/topics"


def test_a_retry_returns_the_first_answer_and_creates_one_row(api_token, app, client, world):
    headers = {**api_token(world.resident), "Idempotency-Key": "topic-0001"}
    first = client.post(_topics(world), json={"title": "楼道灯坏了"}, headers=headers)
    again = client.post(_topics(world), json={"title": "楼道灯坏了"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json == first.json
    assert _count(app, Topic) == 1 and _count(app, RequestKey) == 1
    # Without a key, each POST creates.
    plain = api_token(world.resident)
    client.post(_topics(world), json={"title": "楼道灯坏了"}, headers=plain)
    assert _count(app, Topic) == 2


def test_other_content_under_a_key_is_refused_in_the_error_shape(api_token, app, client, world):
    headers = {**api_token(world.resident), "Idempotency-Key": "topic-0002"}
    assert client.post(_topics(world), json={"title": "修车棚"}, headers=headers).status_code == 201
    other = client.post(_topics(world), json={"title": "别的事"}, headers=headers)
    assert other.status_code == 409
    assert other.json["code"] == 409 and other.json["reason"] == "idempotency_conflict" and other.json["message"]
    # The same key on another endpoint is other content too.
    shop = client.post(f"/api/v1/communities/{world.a.id}/shop/orders", json={"item_id": 1}, headers=headers)
    assert shop.status_code == 409 and shop.json["reason"] == "idempotency_conflict"
    assert _count(app, Topic) == 1


def test_keys_are_per_person(api_token, app, client, world):
    key = {"Idempotency-Key": "shared-key-1"}
    mine = client.post(_topics(world), json={"title": "公园长椅"}, headers={**api_token(world.resident), **key})
    theirs = client.post(_topics(world), json={"title": "公园长椅"}, headers={**api_token(world.resident2), **key})
    assert mine.status_code == theirs.status_code == 201 and mine.json["id"] != theirs.json["id"]
    assert _count(app, Topic) == 2


@pytest.mark.parametrize("key", ["short", "x" * 65, "with space", "中文的钥匙钥匙钥匙"])
def test_a_malformed_key_is_refused_before_anything_runs(api_token, app, client, world, key):
    response = client.post(_topics(world), json={"title": "垃圾分类"},
                           headers={**api_token(world.resident), "Idempotency-Key": key})
    assert response.status_code == 422 and response.json["reason"] == "bad_idempotency_key"
    assert response.json["code"] == 422 and response.json["message"]
    assert _count(app, Topic) == 0 and _count(app, RequestKey) == 0


def test_a_failed_request_stores_nothing_and_may_be_retried(api_token, app, client, world):
    headers = {**api_token(world.resident), "Idempotency-Key": "topic-0003"}
    refused = client.post(_topics(world), json={"title": "  "}, headers=headers)  # the service refuses a blank title
    assert refused.status_code == 422 and _count(app, RequestKey) == 0
    assert client.post(_topics(world), json={"title": "  "}, headers=headers).status_code == 422


def test_the_header_is_documented_once(client):
    spec = client.get("/api/openapi.json").json
    assert spec["components"]["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"
    order = spec["paths"]["/api/v1/communities/{community_id}/shop/orders"]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in order["parameters"]
    assert "Idempotency-Key" not in str(order.get("parameters", [])).replace("IdempotencyKey", "")


@pytest.mark.postgres
def test_concurrent_requests_with_one_key_create_one_row(api_token, app, world):
    """Eight threads send the same order with one key at once: one order, one stock decrement, one answer."""
    from tests.shop.conftest import stock_shop

    with app.app_context():
        item_id = stock_shop(world, stock=20).item.id
        db.session.commit()
    headers = {**api_token(world.resident), "Idempotency-Key": "order-together-1"}
    url = f"/api/v1/communities/{world.a.id}/shop/orders"
    barrier = threading.Barrier(8)
    answers = [None] * 8

    def send(index):
        barrier.wait()
        response = app.test_client().post(url, json={"item_id": item_id}, headers=headers)
        answers[index] = (response.status_code, response.json)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    created = [body for status, body in answers if status == 201]
    assert created and all(body == created[0] for body in created)
    assert [status for status, _ in answers] == [201] * 8
    with app.app_context():
        assert db.session.get(Item, item_id).stock == 19
    assert _count(app, RequestKey) == 1
