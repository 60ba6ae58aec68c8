"""`parallelverse train`: fine-tune Kronos on your market, or train one from scratch."""

from __future__ import annotations

import click

from parallelverse import inputs
from parallelverse.cli.console import err, handle_errors, print_json
from parallelverse.cli.options import Checked


@click.command()
@click.option("--data", "data_paths", multiple=True,
              help="CSV/Parquet OHLCV or a training source (bundled, arch:sp500, arch:nasdaq, great-tables:sp500, "
                   "pmdarima:msft, bokeh:stocks; 'all' = every installed one). Repeatable; default: bundled.")
@click.option("--symbols", help="Comma-separated symbols to use (default: all in the data).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Checkpoint directory.")
@click.option("--size", type=click.Choice(["tiny", "small", "medium"]), default="small", show_default=True,
              help="Size from scratch.")
@click.option("--representation", type=click.Choice(["logret", "zscore"]),
              help="logret: returns from the previous close scaled by the lookback's RMS return (no price level); "
                   "zscore: the official level z-score. Default: the --init checkpoint's (zscore for official ones), "
                   "else logret.")
@click.option("--init", help="Fine-tune from this checkpoint (directory with tokenizer/ and predictor/, or a Hub id).")
@click.option("--stage", type=click.Choice(["both", "tokenizer", "predictor"]), default="both", show_default=True)
@click.option("--until", help="Use only bars before this date (e.g. 2020-01-01 for an honest 2020 test).")
@click.option("--val-from", "val_from", required=True, help="Windows starting on or after this date validate.")
@click.option("--holdout-symbol", help="A symbol used for validation only.")
@click.option("--lookback", type=int, default=90, show_default=True)
@click.option("--predict", type=int, default=10, show_default=True)
@click.option("--stride", type=int, default=5, show_default=True, help="Bars between window starts.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Optimiser steps per stage.")
@click.option("--predictor-steps", type=int, default=0, show_default=True,
              help="Optimiser steps of the predictor stage (0 = --steps).")
@click.option("--batch-size", type=Checked(inputs.BATCH_SIZE), default=32, show_default=True,
              help="Windows per optimiser step (at most 1024).")
@click.option("--eval-every", type=int, default=200, show_default=True)
@click.option("--lr-tokenizer", type=float, default=2e-3, show_default=True)
@click.option("--lr-predictor", type=float, default=1e-3, show_default=True)
@click.option("--patience", type=int, default=0, show_default=True,
              help="Stop a stage after this many evaluations without a better validation loss (0 = never); the best "
                   "checkpoint is kept either way.")
@click.option("--threads", type=int, default=1, show_default=True, help="Torch CPU threads (part of the recipe).")
@click.option("--seed", type=Checked(inputs.SEED), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the training record as JSON.")
@handle_errors
def train(data_paths, symbols, out_dir, size, representation, init, stage, until, val_from, holdout_symbol, lookback,
          predict, stride, steps, predictor_steps, batch_size, eval_every, lr_tokenizer, lr_predictor, patience, threads, seed, as_json):
    """Train Kronos (tokenizer, then predictor) on real OHLCV; resumes an interrupted run in OUT."""
    from pathlib import Path

    from parallelverse.cli.console import ProgressReporter
    from parallelverse.errors import DataError
    from parallelverse.market import load_market
    from parallelverse.train.data import check_window_options, cut_date, make_windows
    from parallelverse.train.loop import TrainConfig, train as run_train
    from parallelverse.train.checkpoint import check_out_dir, choose_representation, resolve_init
    from parallelverse.train.sources import SOURCES, check_data_ref, load_all, load_source

    # every option is checked before any data is read or anything is written
    check_window_options(lookback, predict, stride)
    cut_date("--until", until), cut_date("--val-from", val_from)
    if until and val_from and cut_date("--val-from", val_from) >= cut_date("--until", until):
        raise DataError(f"--val-from {val_from} is not before --until {until}: --until drops every bar from then on, so "
                        "no validation window is left; set --val-from before --until")
    cfg = TrainConfig(steps=steps, predictor_steps=predictor_steps, batch_size=batch_size, lr_tokenizer=lr_tokenizer, lr_predictor=lr_predictor,
                      eval_every=eval_every, seed=seed, patience=patience, threads=threads)
    if symbols is not None and not [x for x in symbols.split(",") if x.strip()]:
        raise DataError(f"--symbols {symbols!r} names no symbol; pass e.g. --symbols AAPL,MSFT, or leave it out for all")
    chosen = {x.strip().upper() for x in symbols.split(",") if x.strip()} if symbols else None
    check_out_dir(out_dir)  # a store, the package, or a directory with files not of a train run: refused, unchanged
    for ref in data_paths:
        check_data_ref(ref)
    init_dirs = resolve_init(init) if init else None  # (tokenizer, predictor, representation)
    representation = choose_representation(representation, init, init_dirs[2] if init_dirs else None)
    series, sources, seen = [], {}, set()
    for ref in data_paths or ("bundled",):
        if ref == "all":
            got, status = load_all()
            sources.update(status)
        elif ref in SOURCES:
            got = load_source(ref)
            sources[ref] = f"used ({SOURCES[ref].licence})"
        else:
            m = load_market(ref)
            got = [m.select(s) for s in m.symbols]
            sources[ref] = "used (user file)"
        seen |= {s.symbol.upper() for s in got}
        series += [s for s in got if chosen is None or s.symbol.upper() in chosen]  # case as `generate` takes it
    missing = sorted(chosen - seen) if chosen else []
    if missing:
        raise DataError(f"--symbols {', '.join(missing)}: not in the data ({', '.join(sorted(seen))}); see "
                        "`parallelverse data`")
    tr, va, used = make_windows(series, lookback, predict, stride, val_from, until, holdout_symbol, representation)
    init_modules = None
    if init:
        from parallelverse.generators.kronos.load import load_module
        from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer

        t_dir, p_dir, _ = init_dirs
        init_modules = (load_module(KronosTokenizer, t_dir, "tokenizer"), load_module(KronosPredictor, p_dir, "predictor"))
    stages = ("tokenizer", "predictor") if stage == "both" else (stage,)
    meta = {"data": used, "sources": sources, "train_windows": len(tr), "val_windows": len(va), "lookback": lookback,
            "predict": predict, "stride": stride, "until": until, "val_from": val_from, "holdout_symbol": holdout_symbol,
            "size": size, "init": init, "stages": list(stages), "representation": representation,
            "train_start": min(u["first"] for u in used.values()), "train_end": max(u["last"] for u in used.values())}
    err.print(f"{len(tr):,} training and {len(va):,} validation windows of {lookback}+{predict} bars from "
              f"{len(used)} symbol(s)", soft_wrap=True)
    reporter = ProgressReporter(enabled=not as_json, unit="steps")

    def progress(name, step, total, loss, val):
        reporter(name, step, total, note=f"loss {loss:.4f}" + (f", validation {val:.4f}" if val is not None else ""))

    with reporter:
        state = run_train(tr, va, Path(out_dir), size, cfg, init_modules, stages, meta, progress)
    summary = {k: {kk: vv for kk, vv in v.items() if kk in ("step", "history", "seconds", "done", "best_step",
                                                              "best_val_loss")}
               for k, v in state.items() if k in ("tokenizer", "predictor")}
    summary["out"] = out_dir
    if as_json:
        print_json({**summary, "meta": meta})
        return
    for name in ("tokenizer", "predictor"):
        if name in summary and summary[name]["history"]:
            h = summary[name]["history"][-1]
            err.print(f"{name}: step {h['step']}, train loss {h['train_loss']:.4f}, validation loss {h['val_loss']:.4f}")
    err.print(f"checkpoint in {out_dir} (use: parallelverse generate --generators kronos --model {out_dir})", soft_wrap=True)
