"""The native staff API for devices: /api/v1/devices/."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from alarms.tests.factories import make_device
from conftest import make_user
from devices.models import EdgeDevice

pytestmark = pytest.mark.django_db

LIST = "/api/v1/devices/"


def test_anonymous_callers_are_refused(api_client: APIClient) -> None:
    assert api_client.get(LIST).status_code == 401


def test_staff_list_devices_with_filters(staff_client: APIClient) -> None:
    make_device("cam-01", name="East gate", location="Plant A", status=EdgeDevice.Status.ONLINE)
    make_device("cam-02", name="Warehouse", location="Plant B", status=EdgeDevice.Status.OFFLINE)
    make_device("cam-03")

    def device_ids(query: str) -> list[str]:
        response = staff_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [row["device_id"] for row in response.json()["results"]]

    assert device_ids("") == ["cam-01", "cam-02", "cam-03"]
    assert device_ids("status=OFFLINE") == ["cam-02"]
    assert device_ids("name=gate") == ["cam-01"]
    assert device_ids("q=plant b") == ["cam-02"]
    assert device_ids("ordering=-device_id") == ["cam-03", "cam-02", "cam-01"]
    assert staff_client.get(f"{LIST}?status=BROKEN").status_code == 400


def test_a_device_detail(staff_client: APIClient) -> None:
    make_device("cam-01", name="East gate", version="2.4.1", info={"model": "X1"}, last_ip="10.0.0.7")
    body = staff_client.get(f"{LIST}cam-01/").json()
    assert {key: body[key] for key in ("device_id", "name", "status", "version", "info", "last_ip")} == {
        "device_id": "cam-01",
        "name": "East gate",
        "status": "UNKNOWN",
        "version": "2.4.1",
        "info": {"model": "X1"},
        "last_ip": "10.0.0.7",
    }
    assert staff_client.get(f"{LIST}nope/").status_code == 404


def test_staff_rename_and_relocate_a_device_but_nothing_else(staff_client: APIClient) -> None:
    make_device("cam-01")
    response = staff_client.patch(
        f"{LIST}cam-01/", {"name": "North gate", "location": "Plant C", "status": "ONLINE"}, format="json"
    )
    assert response.status_code == 200
    device = EdgeDevice.objects.get(pk="cam-01")
    assert (device.name, device.location, device.status) == ("North gate", "Plant C", "UNKNOWN")


def test_updating_needs_the_change_permission(api_client: APIClient) -> None:
    make_device("cam-01")
    api_client.force_login(make_user("reader", perms=("devices.view_edgedevice",)))
    assert api_client.get(f"{LIST}cam-01/").status_code == 200
    assert api_client.patch(f"{LIST}cam-01/", {"name": "x"}, format="json").status_code == 403


def test_the_device_list_costs_a_fixed_number_of_queries(
    staff_client: APIClient, django_assert_max_num_queries: Any
) -> None:
    for number in range(25):
        make_device(f"cam-{number:02d}")
    with django_assert_max_num_queries(4):
        assert len(staff_client.get(LIST).json()["results"]) == 20
