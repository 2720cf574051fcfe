"""JSON answers that are always JSON: no ``Infinity`` or ``NaN``, which JSON does not have.

Imports and the edit form refuse such numbers (assetmap.fields), but a database
written by an older version, or by hand, may still hold one; one such value must
not make the whole Open Referral feed unreadable to every consumer. It goes out
as ``null`` (unknown), which is what it means.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider


def finite(value: Any) -> Any:
    """``value`` with every infinite or not-a-number float (at any depth) made None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


class FiniteJSONProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        try:  # the usual case costs nothing extra; only a bad value pays for the cleaning
            return json.dumps(obj, allow_nan=False, **kwargs)
        except ValueError:
            return json.dumps(finite(obj), allow_nan=False, **kwargs)
