"""`parallelverse train`: fine-tune Kronos on your market, or train one from scratch."""

from __future__ import annotations

import click

from parallelverse.cli.console import err, handle_errors, print_json


@click.command()
@click.option("--data", "data_paths", multiple=True, type=click.Path(dir_okay=False),
              help="CSV/Parquet OHLCV (repeatable; default: the bundled stocks_daily).")
@click.option("--symbols", help="Comma-separated symbols to use (default: all in the data).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Checkpoint directory.")
@click.option("--size", type=click.Choice(["tiny", "small"]), default="small", show_default=True, help="Size from scratch.")
@click.option("--init", help="Fine-tune from this checkpoint (directory with tokenizer/ and predictor/, or a Hub id).")
@click.option("--stage", type=click.Choice(["both", "tokenizer", "predictor"]), default="both", show_default=True)
@click.option("--until", help="Use only bars before this date (e.g. 2020-01-01 for an honest 2020 test).")
@click.option("--val-from", "val_from", required=True, help="Windows starting on or after this date validate.")
@click.option("--holdout-symbol", help="A symbol used for validation only.")
@click.option("--lookback", type=int, default=90, show_default=True)
@click.option("--predict", type=int, default=10, show_default=True)
@click.option("--stride", type=int, default=5, show_default=True, help="Bars between window starts.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Optimiser steps per stage.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--eval-every", type=int, default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the training record as JSON.")
@handle_errors
def train(data_paths, symbols, out_dir, size, init, stage, until, val_from, holdout_symbol, lookback, predict, stride,
          steps, batch_size, eval_every, seed, as_json):
    """Train Kronos (tokenizer, then predictor) on real OHLCV; resumes an interrupted run in OUT."""
    from pathlib import Path

    from parallelverse.cli.console import ProgressReporter
    from parallelverse.errors import DataError
    from parallelverse.market import load_market
    from parallelverse.train.data import make_windows
    from parallelverse.train.loop import TrainConfig, train as run_train

    series = []
    for path in data_paths or (None,):
        m = load_market(path)
        chosen = [s.strip() for s in symbols.split(",")] if symbols else m.symbols
        for s in chosen:
            if s in m.symbols:
                series.append(m.select(s))
    if not series:
        raise DataError(f"none of the symbols {symbols!r} is in the data; see `parallelverse data`")
    tr, va, used = make_windows(series, lookback, predict, stride, val_from, until, holdout_symbol)
    init_modules = None
    if init:
        from parallelverse.generators.kronos.load import load_module, resolve
        from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer

        p_dir, t_dir, _ = resolve(init)
        init_modules = (load_module(KronosTokenizer, t_dir, "tokenizer"), load_module(KronosPredictor, p_dir, "predictor"))
    stages = ("tokenizer", "predictor") if stage == "both" else (stage,)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, eval_every=eval_every, seed=seed)
    meta = {"data": used, "train_windows": len(tr), "val_windows": len(va), "lookback": lookback, "predict": predict,
            "stride": stride, "until": until, "val_from": val_from, "holdout_symbol": holdout_symbol, "size": size,
            "init": init, "stages": list(stages)}
    err.print(f"{len(tr):,} training and {len(va):,} validation windows of {lookback}+{predict} bars from "
              f"{len(used)} symbol(s)", soft_wrap=True)
    reporter = ProgressReporter(enabled=not as_json, unit="steps")

    def progress(name, step, total, loss, val):
        reporter(name, step, total, note=f"loss {loss:.4f}" + (f", validation {val:.4f}" if val is not None else ""))

    with reporter:
        state = run_train(tr, va, Path(out_dir), size, cfg, init_modules, stages, meta, progress)
    summary = {k: {kk: vv for kk, vv in v.items() if kk in ("step", "history", "seconds", "done")}
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
