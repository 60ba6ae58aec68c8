"""The span of real data a model generator was trained on: the contamination guard.

A model that saw a period in training can "forecast" it from memory. `training_span(spec)`
returns the [start, end) span of a model generator's training data, or None for
generators that learn only from the context (GARCH, bootstrap). A seed window whose
horizon overlaps the span is *in-sample* for that model: `calibrate` leaves such cells
out of its scores (unless --include-in-sample) and `generate` warns.

Where the span comes from:
- our checkpoints (a directory written by `parallelverse train`): `train_start` /
  `train_end` (first and last day of training data, both included) in training.json or
  parallelverse.json (top level or under "meta"), else
  training.json's `meta.until` (bars before it were used) and the earliest `first` of
  `meta.data`; a directory without any of these is treated like an unknown checkpoint;
- the official checkpoints: the table below, with its sources. Neither paper publishes
  the last date of its training data, so the end is taken conservatively as the paper's
  first public date (nothing later can have been trained on), and the start as unknown
  (open). With the bundled data (2013-2023) every window is therefore in-sample for them;
- any other checkpoint (unknown Hub id, directory without metadata): unknown, treated as
  covering everything up to today, so nothing is silently scored as out-of-sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class TrainingSpan:
    start: pd.Timestamp | None  # None = unknown, open towards the past
    end: pd.Timestamp  # exclusive: training used data strictly before this instant
    source: str  # where the span was read, for messages and the calibration record
    recorded: bool = True  # False: the checkpoint records none, so it counts as trained on everything until today

    def overlaps(self, first: pd.Timestamp, last: pd.Timestamp) -> bool:
        """Does [first, last] (e.g. a horizon's first and last bar) intersect [start, end)?"""
        return first < self.end and (self.start is None or last >= self.start)

    def describe(self) -> dict:
        return {"start": None if self.start is None else str(self.start.date()), "end": str(self.end.date()),
                "source": self.source}


# Official checkpoints. Neither paper states the end date of its data: end = the paper's first public date.
_KRONOS = ("2025-08-02", "Kronos paper (Shi et al., arXiv 2508.02739, v1 2025-08-02): 'over 12 billion K-line records "
           "from 45 global exchanges'; no end date published, conservative end = the paper's date")
_CHRONOS = ("2024-03-12", "Chronos paper (Ansari et al., arXiv 2403.07815, v1 2024-03-12): public datasets (incl. "
            "finance/exchange-rate series) + KernelSynth/TSMixup synthetic data; no end date published, conservative "
            "end = the paper's date")
OFFICIAL_SPANS = {
    **{f"NeoQuasar/Kronos-{s}": _KRONOS for s in ("mini", "small", "base", "large")},
    **{f"amazon/chronos-t5-{s}": _CHRONOS for s in ("tiny", "mini", "small", "base", "large")},
}


def _date(value) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return None
    return None if pd.isna(t) else t.tz_localize(None) if t.tzinfo else t


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def checkpoint_span(directory: str | Path) -> TrainingSpan | None:
    """The span a trained checkpoint directory records, or None when it records none."""
    d = Path(directory)
    for name in ("training.json", "parallelverse.json"):
        doc = _read_json(d / name)
        for where in (doc, doc.get("meta") if isinstance(doc.get("meta"), dict) else {}):
            end = _date(where.get("train_end"))
            if end is not None:  # train_end is the last day of training data: the span ends the day after
                return TrainingSpan(_date(where.get("train_start")), end + pd.Timedelta(days=1),
                                    f"{d / name}: train_start/train_end")
    meta = _read_json(d / "training.json").get("meta")
    if isinstance(meta, dict):
        data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
        firsts = [_date(v.get("first")) for v in data.values() if isinstance(v, dict)]
        lasts = [_date(v.get("last")) for v in data.values() if isinstance(v, dict)]
        start = min((t for t in firsts if t is not None), default=None)
        end = _date(meta.get("until"))
        if end is None and any(t is not None for t in lasts):  # no --until: the last bar used, inclusive
            end = max(t for t in lasts if t is not None) + pd.Timedelta(days=1)
        if end is not None:
            return TrainingSpan(start, end, f"{d / 'training.json'}: meta.until and meta.data")
    return None


def training_span(spec) -> TrainingSpan | None:
    """The training span of a generator spec; None for generators fitted on the context only."""
    model = getattr(spec, "model", None)
    if not model:
        return None
    model = str(model)
    if model in OFFICIAL_SPANS:
        end, source = OFFICIAL_SPANS[model]
        return TrainingSpan(None, pd.Timestamp(end), source)
    p = Path(model)
    if p.is_dir():
        span = checkpoint_span(p)
        if span is None and p.name in ("predictor", "tokenizer"):
            span = checkpoint_span(p.parent)
        if span is not None:
            return span
    return TrainingSpan(None, pd.Timestamp.now().normalize() + pd.Timedelta(days=1),
                        f"{model}: no training span recorded (unknown checkpoint): treated as trained on everything",
                        recorded=False)


def horizon_warning(spec, horizon_first: pd.Timestamp, horizon_last: pd.Timestamp) -> str | None:
    """One line when a model's training data overlaps the horizon [first, last] bar, else None."""
    span = training_span(spec)
    if span is None or not span.overlaps(horizon_first, horizon_last):
        return None
    horizon = f"the horizon {horizon_first.date()}..{horizon_last.date()}"
    if not span.recorded:
        return (f"{spec.name}: {span.source.split(':')[0]} records no training span (train_start/train_end in its "
                f"parallelverse.json), so it counts as trained on all data up to today, which overlaps {horizon}; its "
                "universes may be memorised, not forecast — record the span, or use a model that records one")
    since = "an unknown start" if span.start is None else str(span.start.date())
    return (f"{spec.name}: {horizon} overlaps the model's training data (from {since} to before {span.end.date()}; "
            f"{span.source.split(':')[0]}); its universes may be memorised, not forecast — choose a later "
            "--seed-window or another --model")
