"""An order's coordinates are optional: without them its address is placed from its city (or
else its country) by the offline geocoder, and sourced from the location nearest to that; the
order records how its address was placed (``coordinates_precision``)."""
from __future__ import annotations

from typing import Any

import pytest

from domain.geo import great_circle_km
from tests.api.support import BERLIN, MUNICH, Api, assert_problem, order_body, pointers, unique

PARIS = (48.853, 2.349)


def _stocked_at(integrator: Api, *places: tuple[float, float]) -> tuple[str, list[str]]:
    """A new SKU stocked at a new location at each of ``places``: (sku, location ids)."""
    sku = unique("SKU")
    locations = [integrator.location(at=place) for place in places]
    for location_id in locations:
        integrator.receive(location_id, sku, 5)
    return sku, locations


def _address(city: str, country: str = "DE", **coordinates: Any) -> dict[str, Any]:
    return {"name": "Ada Lovelace", "line1": "Somewhere 1", "city": city, "postal_code": None,
            "country": country, **coordinates}


def _shipped_from(order: dict[str, Any]) -> list[str]:
    return [shipment["location_id"] for shipment in order["shipments"]]


@pytest.mark.parametrize("city", ["München", "Munich"])
def test_an_order_without_coordinates_is_placed_at_its_city(integrator: Api, city: str) -> None:
    sku, (berlin, munich) = _stocked_at(integrator, BERLIN, MUNICH)
    placed = integrator.place(order_body(sku, shipping_address=_address(city)))

    address = placed["shipping_address"]
    assert address["coordinates_precision"] == "city"
    assert great_circle_km(address["latitude"], address["longitude"], *MUNICH) < 5
    assert _shipped_from(placed) == [munich]
    stored = integrator.order(placed["id"])  # the order document of the read model says so too
    assert stored["shipping_address"]["coordinates_precision"] == "city"
    assert stored["shipping_address"]["latitude"] == address["latitude"]


def test_an_order_in_an_unknown_city_is_placed_at_its_country(integrator: Api) -> None:
    sku, (paris, berlin) = _stocked_at(integrator, PARIS, BERLIN)
    placed = integrator.place(order_body(sku, shipping_address=_address("Nulle-Part-sur-Rien", "FR")))

    assert placed["shipping_address"]["coordinates_precision"] == "country"
    assert _shipped_from(placed) == [paris]
    assert integrator.order(placed["id"])["shipping_address"]["coordinates_precision"] == "country"


def test_given_coordinates_are_used_as_given(integrator: Api) -> None:
    sku, (berlin, munich) = _stocked_at(integrator, BERLIN, MUNICH)
    # The city says Berlin; the coordinates, which win, are Munich's.
    placed = integrator.place(order_body(sku, shipping_address=_address("Berlin", latitude=MUNICH[0],
                                                                        longitude=MUNICH[1])))

    assert placed["shipping_address"]["coordinates_precision"] == "given"
    assert (placed["shipping_address"]["latitude"], placed["shipping_address"]["longitude"]) == MUNICH
    assert _shipped_from(placed) == [munich]
    assert integrator.order(placed["id"])["shipping_address"]["coordinates_precision"] == "given"


def test_an_address_nothing_can_place_is_sourced_by_availability(integrator: Api) -> None:
    sku = unique("SKU")
    small, large = integrator.location(at=BERLIN), integrator.location(at=MUNICH)
    integrator.receive(small, sku, 1)
    integrator.receive(large, sku, 3)
    # Antarctica: a country, but the data has no place in it.
    placed = integrator.place(order_body(sku, 3, shipping_address=_address("McMurdo", "AQ",
                                                                           latitude=None, longitude=None)))

    address = placed["shipping_address"]
    assert (address["coordinates_precision"], address["latitude"], address["longitude"]) == ("unknown", None, None)
    assert placed["status"] != "backordered" and _shipped_from(placed) == [large]


@pytest.mark.parametrize(("given", "missing"), [("latitude", "longitude"), ("longitude", "latitude")])
def test_one_coordinate_without_the_other_is_refused_at_it(integrator: Api, given: str, missing: str) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("A", shipping_address=_address(
        "Berlin", **{given: 10.0}))), 422)
    assert pointers(problem) == [f"/shipping_address/{given}"]
    assert missing in problem["errors"][0]["detail"]
    both_null_but_one = _address("Berlin", **{given: 10.0, missing: None})
    problem = assert_problem(integrator.post("/orders", order_body("A", shipping_address=both_null_but_one)), 422)
    assert pointers(problem) == [f"/shipping_address/{given}"]


def test_the_order_document_describes_coordinates_precision(client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    address_in = schemas["AddressIn"]
    assert "latitude" not in address_in.get("required", []) and "longitude" not in address_in.get("required", [])
    order_out = schemas["OrderOut"]["properties"]["shipping_address"]
    assert order_out["$ref"] == "#/components/schemas/AddressOut"
    precision = schemas["AddressOut"]["properties"]["coordinates_precision"]
    assert {"enum": ["given", "city", "country", "unknown"], "type": "string"} in precision["anyOf"]
