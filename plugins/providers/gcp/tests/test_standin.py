"""The stand-in answers as Compute Engine does where the provider's tests rely on it: no call without a signed
bearer token, errors in Google's JSON shape, list filters on labels honoured."""

import json
import urllib.error
import urllib.request

import pytest

from parlay_provider_gcp.standin.compute import ApiError, list_filter

from .conftest import ZONE


def call(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_call_without_a_bearer_token_is_unauthenticated(stand_in):
    code, body = call(f"{stand_in.url}/compute/v1/projects/{stand_in.project}/zones/{ZONE}/instances")
    assert code == 401
    assert body["error"]["code"] == 401 and body["error"]["errors"][0]["reason"] == "authError"


@pytest.mark.parametrize(
    "text, names",
    [
        ('labels.parlay-run = "a"', ["one", "two"]),
        ('(labels.parlay-run = "a") AND (labels.parlay-block = "b2")', ["two"]),
        ("labels.parlay-run != a", ["three"]),
    ],
)
def test_list_filters_on_labels(text, names):
    instances = [
        {"name": "one", "labels": {"parlay-run": "a", "parlay-block": "b1"}},
        {"name": "two", "labels": {"parlay-run": "a", "parlay-block": "b2"}},
        {"name": "three", "labels": {"parlay-run": "c"}},
    ]
    assert [i["name"] for i in instances if list_filter(text)(i)] == names


def test_an_unsupported_filter_is_refused_not_ignored():
    with pytest.raises(ApiError) as info:
        list_filter('labels.a = "x" OR labels.b = "y"')
    assert info.value.code == 400
