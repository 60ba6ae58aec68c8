"""Strict JSON values: NaN/inf -> null, numpy -> Python; the one converter for --json and calibrate's cell files."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import PurePath


def strict_json(obj):
    """`obj` with NaN/inf -> None, numpy scalars/arrays -> Python numbers/lists, paths and dates -> strings."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (bool, str, type(None))):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalars and arrays
        return strict_json(obj.tolist())
    return str(obj)
