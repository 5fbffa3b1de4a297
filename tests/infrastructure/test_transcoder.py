"""Event state survives the round trip through the store exactly: values and their types."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from infrastructure.transcoder import OrjsonTranscoder

leaves = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
          | st.floats(allow_nan=False, allow_infinity=False) | st.text()
          | st.decimals(allow_nan=False, allow_infinity=False) | st.uuids()
          | st.datetimes(timezones=st.just(UTC)) | st.dates())
# The tags' own names are reserved: a one-key dict with such a key is read as a tagged value.
keys = st.text(max_size=8).filter(lambda key: key not in {"__uuid__", "__decimal__", "__datetime__", "__date__",
                                                          "__tuple__"})
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=20)


def _typed(value: Any) -> Any:
    """``value`` with the type of every part beside it (1 == 1.0 == True would hide a change)."""
    if isinstance(value, dict):
        return ("dict", {k: _typed(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


@given(st.dictionaries(keys, values, max_size=6))
def test_any_state_comes_back_as_it_was_recorded(state: dict[str, Any]) -> None:
    transcoder = OrjsonTranscoder()
    assert _typed(transcoder.decode(transcoder.encode(state))) == _typed(state)


def test_a_state_of_the_usual_shape() -> None:
    transcoder = OrjsonTranscoder()
    state = {"lines": [{"sku": "A", "quantity": 1, "unit_price": Decimal("19.90")}], "when": date(2026, 12, 2),
             "timestamp": datetime(2026, 12, 2, 4, 0, tzinfo=UTC), "pair": (1, "x"), "__meta__": {"actor_id": "k"}}
    assert _typed(transcoder.decode(transcoder.encode(state))) == _typed(state)
