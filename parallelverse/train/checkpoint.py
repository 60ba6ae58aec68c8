"""Where `train` reads and writes checkpoints: the checks on --out and --init, made before anything is read or written.

--out is written only when it is new, empty, or a run of `train` itself (finished or interrupted), recognised by the
recipe its `training.json` records; anything else in it (a copy of the shipped model, a user's files, a store) is
refused with the first file `train` would not have written, and nothing is changed. --init names a checkpoint
directory or a known Kronos Hub id, and decides the representation unless --representation is given.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from parallelverse.errors import InputError, TrainError
from parallelverse.inputs import check_output_path, store_above

RUN_FILES = ("parallelverse.json", "training.json", "state.pt", "state.pt.partial")  # what a run writes in OUT
RUN_PARTS = ("tokenizer", "predictor")  # its sub-directories, each config.json + model.safetensors
PART_FILES = ("config.json", "model.safetensors")
_TEMPORARY = re.compile(r"^\..+\.\d+\.partial$")  # files.write_*_atomic's temporaries
EXAMPLE_OUT = "my-kronos"


def _first_foreign(out: Path) -> str | None:
    """The first entry under OUT (sorted, relative) that a `train` run does not write, or None."""
    for p in sorted(out.iterdir()):
        if p.is_symlink():
            return p.name
        if p.name in RUN_PARTS and p.is_dir():
            for q in sorted(p.iterdir()):
                if q.is_symlink() or not q.is_file() or not (q.name in PART_FILES or _TEMPORARY.match(q.name)):
                    return f"{p.name}/{q.name}"
        elif not (p.is_file() and (p.name in RUN_FILES or _TEMPORARY.match(p.name))):
            return p.name + ("/" if p.is_dir() else "")
    return None


def recorded_recipe(out: Path) -> dict | None:
    """The recipe a `train` run recorded in OUT/training.json (written before anything else), None if there is none."""
    try:
        doc = json.loads((Path(out) / "training.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    recipe = doc.get("recipe") if isinstance(doc, dict) else None
    return recipe if isinstance(recipe, dict) else None


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """Refuse an --out that `train` must not write: a store (its root or inside one), the package, the working
    directory, a file, a read-only place, or a non-empty directory that is not a `train` run."""
    check_output_path(out, option, "dir", example=EXAMPLE_OUT)  # also refuses the package
    p = Path(out)
    if (p / "zarr.json").is_file() and store_above(p / "zarr.json") == Path(os.path.realpath(p)):
        raise InputError(f"{option} {str(out)!r} is a parallelverse store; write the checkpoint beside it, e.g. "
                         f"{option} {p.parent / EXAMPLE_OUT}")
    if not p.is_dir() or not any(p.iterdir()):
        return p
    first = _first_foreign(p)
    if first is not None:
        raise InputError(f"{option} {str(out)!r} holds files `parallelverse train` did not write (first: {first}); "
                         f"nothing was changed: choose a new or empty directory, e.g. {option} {p.name}-2")
    if recorded_recipe(p) is None:
        raise InputError(f"{option} {str(out)!r} holds a checkpoint that is not a `parallelverse train` run to resume "
                         "(training.json records no recipe); nothing was changed: choose a new or empty directory, "
                         f"e.g. {option} {p.name}-2")
    return p


def resolve_init(init: str) -> tuple[Path, Path, str]:
    """(tokenizer dir, predictor dir, representation) of an --init checkpoint: a directory as `train` writes it
    (its parallelverse.json names the representation; none = zscore, as converted official ones) or a Kronos Hub id
    (official checkpoints: zscore)."""
    from parallelverse.generators.hub import hub_snapshot
    from parallelverse.generators.kronos.load import HUB_TOKENIZERS, check_training_finished, sampling_defaults

    p = Path(init).expanduser()
    hub_ids = ", ".join(HUB_TOKENIZERS)
    if p.is_dir():
        missing = [f"{d}/" for d in RUN_PARTS if not (p / d).is_dir()]
        if missing:
            raise TrainError(f"--init {init!r} has no {' and no '.join(missing)}; pass a checkpoint directory as "
                             f"`parallelverse train` writes it (tokenizer/ and predictor/) or a Hub id ({hub_ids})")
        check_training_finished(p)
        return p / "tokenizer", p / "predictor", sampling_defaults(str(p)).get("representation", "zscore")
    if p.exists():
        raise TrainError(f"--init {init!r} is a file; pass a checkpoint directory (with tokenizer/ and predictor/) or "
                         f"a Hub id ({hub_ids})")
    if init not in HUB_TOKENIZERS:
        where = "does not exist" if init.startswith(("/", ".", "~")) or init.count("/") != 1 else \
            "is not a directory nor a known Kronos Hub id"
        raise TrainError(f"--init {init!r} {where}; pass a checkpoint directory (with tokenizer/ and predictor/, as "
                         f"`parallelverse train` writes it) or one of {hub_ids}")

    def fetch(ref: str) -> Path:
        return hub_snapshot(ref, ["config.json", "model.safetensors"],
                            f"could not fetch {ref!r} from the Hugging Face Hub (offline); download it where the Hub "
                            "is reachable and pass --init DIR (with tokenizer/ and predictor/), or fill the HF cache "
                            "(HF_HOME)")

    return fetch(HUB_TOKENIZERS[init]), fetch(init), "zscore"


def choose_representation(given: str | None, init: str | None, init_kind: str | None) -> str:
    """--representation as given, else the --init checkpoint's, else logret; a conflict with --init is refused."""
    if init is None:
        return given or "logret"
    if given is not None and given != init_kind:
        raise TrainError(f"--representation {given} conflicts with --init {init!r}, which was trained on {init_kind} "
                         f"windows; leave --representation out (or pass --representation {init_kind}) to fine-tune it")
    return init_kind
