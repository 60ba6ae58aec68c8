"""`parallelverse audit`: false-positive rate and power of each skill null, measured in the store's own universes."""

from __future__ import annotations

import click

from parallelverse import inputs
from parallelverse.cli.console import ProgressReporter, err, folded, handle_errors, out, print_json
from parallelverse.cli.options import Checked


@click.command()
@click.argument("store", type=click.Path())
@click.option("--universe", "universes", multiple=True, help="Universe to plant in (repeatable; default: all).")
@click.option("--n-plant", type=Checked(inputs.N_PLANT), default=60, show_default=True,
              help="Universe paths used as planted real futures (per universe, each with and without the edge).")
@click.option("--n-null", type=Checked(inputs.N_NULL), default=99, show_default=True, help="Paths per null market.")
@click.option("--edge", "edge_sharpe", type=Checked(inputs.EDGE_SHARPE), default=1.5, show_default=True,
              help="Planted edge, annualised Sharpe.")
@click.option("--seed", type=Checked(inputs.SEED), default=0, show_default=True, help="Seed of the plants and nulls.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON on stdout.")
@handle_errors
def audit(store, universes, n_plant, n_null, edge_sharpe, seed, as_json):
    """Plant a zero-edge and a known-edge strategy in your universes: each null's false-positive rate and power."""
    from pathlib import Path

    from rich.table import Table

    from parallelverse.errors import StoreError
    from parallelverse.verdict.audit import run_audit
    from parallelverse.verdict.model import to_json

    if not Path(store).exists():
        raise StoreError(f"no store at {store!r}; run `parallelverse generate` first, or pass the .zarr it wrote")
    with ProgressReporter(unit="plants") as progress:
        result = run_audit(store, list(universes) or None, n_plant, n_null, edge_sharpe, seed,
                           progress=lambda u, done, total: progress(f"audit {u}", done, total))
    notes = _notes(result, n_plant, n_null)
    if as_json:
        print_json({**to_json(result), "notes": notes})
        return
    t = Table(title=f"Skill-test audit: up to {n_plant} planted futures per universe, B = {n_null}, alpha {result.alpha:g}; "
                    f"known edge {edge_sharpe:g} Sharpe/yr (95% Clopper-Pearson intervals)")
    for c in ("universe", "test", "role", "false positives", "power"):
        t.add_column(c, justify="left" if c in ("universe", "test", "role") else "right")
    for r in result.rows:
        m = result.plants.get(r.universe, 0)
        t.add_row(r.universe, r.test, r.role, _rate(r.false_positive, m), _rate(r.power, m))
    out.print(folded(t))
    for line in notes:
        err.print(line, soft_wrap=True)


def _notes(result, n_plant: int, n_null: int) -> list[str]:
    """What the table needs beside it: fewer plants than asked, nulls that could not be built, and what B lets the
    verdict say (the Simes arithmetic for the deciding nulls that were there)."""
    from parallelverse.verdict.skill import DECIDING, min_null_paths_for_skill, nulls_needed_for_skill

    notes = [f"{u} has {m} paths: {m} plants, not {n_plant}" for u, m in result.plants.items() if m < n_plant]
    for name, gap in result.unavailable.items():
        why = "; ".join(f"{reason}{'' if n == gap.plants else f' ({n})'}" for reason, n in gap.reasons.items())
        others = "the other deciding nulls decided there" if name in DECIDING else "it does not decide"
        notes.append(f"{name} null could not be built on {gap.plants} of {gap.of} plant(s) ({why}); {others}")
    for k in sorted((k for k in result.deciding_built if k > 0), reverse=True):  # what the plants actually had
        where = "" if k == len(DECIDING) else f" where only {k} deciding null(s) could be built"
        need = nulls_needed_for_skill(n_null, k, result.alpha)
        one = min_null_paths_for_skill(result.alpha, 1 / k)
        if need > k:  # the verdict row's power is bounded by B, not by the nulls
            notes.append(f"with --n-null {n_null}{where} the verdict cannot say Skill at all: the Monte Carlo interval "
                         f"of the smallest p (1/{n_null + 1}) does not clear {result.alpha:g}; use --n-null "
                         f"{min_null_paths_for_skill(result.alpha)} or more ({one} for one deciding null to be enough)")
        elif need > 1:
            notes.append(f"with --n-null {n_null}{where} the verdict (Simes over the Monte Carlo intervals of the {k} "
                         f"deciding nulls) says Skill only when at least {need} of them have no null path reaching the "
                         f"real result; use --n-null {one} or more for one to be enough")
    return notes


def _rate(r, plants: int) -> str:
    """'k/n = rate [lo, hi]', or why there is no rate (the test was tried on every plant and built on none)."""
    if not r.n:
        return f"n/a: not built on any of {plants}"
    return f"{r.k}/{r.n} = {r.rate:.0%} [{r.ci[0]:.0%}, {r.ci[1]:.0%}]"
