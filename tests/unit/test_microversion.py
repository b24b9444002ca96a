"""Microversion negotiation."""

import pytest

from stratus.api.errors import BadRequest, NotAcceptable
from stratus.api.microversion import MAX_VERSION, MIN_VERSION, APIVersion, negotiate


def test_no_header_is_minimum() -> None:
    assert negotiate({}) == MIN_VERSION == APIVersion(2, 1)


def test_both_headers_and_latest() -> None:
    assert negotiate({"openstack-api-version": "compute 2.61"}) == APIVersion(2, 61)
    assert negotiate({"x-openstack-nova-api-version": "2.53"}) == APIVersion(2, 53)
    assert negotiate({"openstack-api-version": "compute latest"}) == MAX_VERSION
    both = {
        "openstack-api-version": "image 2.5, compute 2.70",
        "x-openstack-nova-api-version": "2.2",
    }
    assert negotiate(both) == APIVersion(2, 70)


def test_legacy_header_when_the_standard_one_names_other_services() -> None:
    headers = {"openstack-api-version": "image 2.5", "x-openstack-nova-api-version": " 2.40 "}
    assert negotiate(headers) == APIVersion(2, 40)
    assert negotiate({"x-openstack-nova-api-version": "LATEST"}) == MAX_VERSION
    assert negotiate({"openstack-api-version": "Compute  2.7 "}) == APIVersion(2, 7)


def test_out_of_range_and_malformed() -> None:
    with pytest.raises(NotAcceptable):
        negotiate({"openstack-api-version": "compute 9.99"})
    with pytest.raises(NotAcceptable):
        negotiate({"openstack-api-version": "compute 2.0"})
    with pytest.raises(BadRequest):
        negotiate({"openstack-api-version": "compute 2.x"})
    for text in ("+2.5", "2 . 5", "2_0.1", "2", "2.5.1"):
        with pytest.raises(BadRequest):
            negotiate({"x-openstack-nova-api-version": text})


def test_ordering_against_strings() -> None:
    assert APIVersion(2, 100) > "2.99" and APIVersion(2, 9) < "2.10"
