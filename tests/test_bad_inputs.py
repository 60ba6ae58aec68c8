"""Bad inputs to `data` and `generate` (options, data files, scenario files), as a careless user types them.

Every case: exit code != 0, exactly one line on stderr (`error: ...` naming the value),
and nothing written or changed in the working directory (tree digest and listing).
Runs in-process with tiny CSVs; no case fits a generator or loads a model.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import tree_digest


def tiny_frame(n: int = 150, seed: int = 3) -> pd.DataFrame:
    """`n` daily bars from 2020-01-01 of a seeded random walk (150 bars reach into July 2020)."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[50.0, close[:-1]] * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.integers(900_000, 1_100_000, n).astype(float)
    dates = pd.bdate_range("2020-01-01", periods=n).strftime("%Y-%m-%d")
    return pd.DataFrame({"Date": dates, "Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume})


def with_split(factor: float, at: int = 120) -> pd.DataFrame:
    """Prices before bar `at` multiplied by `factor` and volume divided: an unadjusted factor-for-1 split."""
    f = tiny_frame()
    f.loc[: at - 1, ["Open", "High", "Low", "Close"]] *= factor
    f.loc[: at - 1, "Volume"] /= factor
    return f


def csv_text(frame: pd.DataFrame, **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode()


def xlsx_bytes() -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pv-xlsx-{os.getpid()}.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    data = path.read_bytes()
    path.unlink()
    return data


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


GOOD = csv_text(tiny_frame())
WIN = ["--seed-window", "2020-06", "--context", "100", "--horizon", "5", "--n-paths", "5", "--generators", "garch"]

# Each case: (arguments, files to create in the working directory, fragments expected in the error line).
# A file value of None makes a directory.
CASES: dict[str, tuple[list[str], dict, list[str]]] = {}


def case(name, args, needles, files=None):
    assert name not in CASES
    CASES[name] = (args, files or {}, needles)


# --- generate: numeric options (refused while parsing; nothing is loaded) --------------------------------
G = ["generate", "--seed-window", "2020-01", "--generators", "kronos"]
for text, needle in [("nan", "not a finite number"), ("inf", "not a finite number"), ("-inf", "not a finite number"),
                     ("1e999", "not a finite number"), ("0", "out of range"), ("-1", "out of range"),
                     ("0.001", "out of range"), ("abc", "is not a number"), ("1.0,,1.2", "separated by commas"),
                     ("1.0,nan", "not a finite number")]:
    case(f"temperature_{text}", G + ["--temperature", text], ["--temperature", needle])
for text, needle in [("nan", "not a finite number"), ("inf", "not a finite number"), ("0", "out of range"),
                     ("1.5", "out of range"), ("-0.1", "out of range")]:
    case(f"top_p_{text}", G + ["--top-p", text], ["--top-p", needle, "(0, 1]"])
for text, needle in [("-1", "out of range"), ("2.5", "not a whole number"), ("nan", "not a whole number")]:
    case(f"top_k_{text}", G + ["--top-k", text], ["--top-k", needle])
G = ["generate", "--seed-window", "2020-01"]
for opt, text, needle in [
    ("--n-paths", "0", "out of range"), ("--n-paths", "-5", "out of range"), ("--n-paths", "nan", "not a whole number"),
    ("--n-paths", "1e3", "not a whole number"), ("--chunk-paths", "0", "out of range"),
    ("--chunk-paths", "inf", "not a whole number"), ("--horizon", "0", "out of range"),
    ("--horizon", "-1", "out of range"), ("--horizon", "1000000000", "out of range"),
    ("--horizon", "nan", "not a whole number"), ("--context", "20", "out of range"),
    ("--context", "inf", "not a whole number"), ("--context", "1000000000000", "out of range"),
    ("--seed", "-1", "out of range"), ("--seed", "nan", "not a whole number"),
    ("--seed", str(2**64), "out of range"),
]:
    case(f"{opt[2:]}_{text}", G + [opt, text], [opt, text, needle, "e.g."])
case("no_such_option", G + ["--tempreature", "1"], ["--tempreature", "--temperature", "--help"])
case("no_such_command", ["generat"], ["No such command 'generat'", "Did you mean 'generate'", "--help"])
case("option_without_value", G + ["--n-paths"], ["--n-paths", "requires an argument"])
case("bad_device", G + ["--device", "tpu"], ["--device", "tpu", "--help"])
case("empty_data", G + ["--data", ""], ["--data is empty"])
case("empty_out", G + ["--out", ""], ["--out is empty"])
case("empty_symbol", G + ["--symbol", " "], ["--symbol is empty", "AAPL"])
case("no_generators", G + ["--generators", ",,"], ["no generators chosen"])
case("set_without_value", G + ["--set", "garch"], ["--set 'garch' should look like GENERATOR.PARAM=VALUE"])

# --- generate: sizes and generator parameters (data loaded, nothing fitted) ------------------------------
case("n_paths_a_billion", ["generate", "--data", "t.csv", *WIN[:4], "--horizon", "252", "--n-paths", "1000000000"],
     ["--n-paths 1,000,000,000 would write about", "x 252 bars x 5 fields x 8 B", "free", "use --n-paths"],
     {"t.csv": GOOD})
case("chunk_too_big", ["generate", "--data", "t.csv", *WIN[:4], "--horizon", "1000", "--chunk-paths", "1000000"],
     ["--chunk-paths 1000000 x 1000 bars", "GB per field", "use --chunk-paths"], {"t.csv": GOOD})
case("set_param_nan", G + ["--set", "garch.dist=nan", "--generators", "garch"], ["garch.dist = nan", "not a finite number"])
case("set_param_inf", G + ["--set", "bootstrap.block_bars=inf", "--generators", "bootstrap"],
     ["bootstrap.block_bars = inf", "not a finite number"])
# A fit that fails leaves nothing behind: every generator with something to write is fitted before the store is
# opened (a hostile tester: the GARCH universe was written, then an empty bootstrap one that no rerun could finish).
WIN2 = ["--seed-window", "2020-06", "--context", "100", "--horizon", "5", "--n-paths", "5"]
case("block_longer_than_a_quarter_of_the_context",
     ["generate", "--data", "t.csv", *WIN2, "--generators", "garch,bootstrap", "--set", "bootstrap.block_bars=100000"],
     ["block_bars=100000 is longer than a quarter of the", "use at most 24.75"], {"t.csv": GOOD})


def constant_frame() -> pd.DataFrame:
    f = tiny_frame()
    f[["Open", "High", "Low", "Close"]] = 5.0
    return f


def empty_date_frame() -> pd.DataFrame:
    f = tiny_frame()
    f.loc[7, "Date"] = ""
    return f


# Repeated single-valued options: click kept the last silently (a hostile tester: two --seed-window, the second won)
case("seed_window_twice", ["generate", "--seed-window", "2020-01", "--seed-window", "2021-01"],
     ["--seed-window is given twice; keep one"])
case("strategy_twice", ["report", "x.zarr", "--strategy", "a", "--strategy=b"], ["--strategy is given twice"])
case("set_and_option_conflict", G + ["--generators", "kronos", "--set", "kronos.top_k=5", "--top-k", "7"],
     ["kronos.top_k is given twice (--set kronos.top_k=5 and --top-k); keep one"])
case("data_is_a_device", ["data", "--data", "/dev/null"], ["'/dev/null' is not a regular file"])
case("empty_date_cell", ["data", "--data", "t.csv"], ["the timestamp in column", "is empty"],
     {"t.csv": csv_text(empty_date_frame())})
case("set_word_given_a_number", G + ["--set", "garch.dist=1", "--generators", "garch"],
     ["garch dist='1' is not one of normal, t, skewt"])
case("constant_prices", ["generate", "--data", "t.csv", *WIN2, "--generators", "bootstrap,garch"],
     ["constant price from 5 to 5", "nothing to model"], {"t.csv": csv_text(constant_frame())})
case("data_shorter_than_context", ["generate", "--data", "t.csv", "--seed-window", "2020-01", "--context", "400"],
     ["150 bars in all, fewer than --context 400", "use --context 150 or fewer"], {"t.csv": GOOD})
case("data_shorter_than_any_context", ["generate", "--data", "t.csv", "--seed-window", "2020-01"],
     ["30 bars in all", "at least 100 bars of context"], {"t.csv": csv_text(tiny_frame(30))})
case("drift_prior_huge", G + ["--set", "bootstrap.drift_prior_sd=1e308", "--generators", "bootstrap"],
     ["bootstrap drift_prior_sd=1e+308", "must be in [0, 2]"])
case("regime_sd_negative", G + ["--set", "garch.vol_regime_sd=-0.1", "--generators", "garch"],
     ["garch vol_regime_sd=-0.1", "must be in [0, 2]"])
case("vol_scale_huge", G + ["--set", "garch.vol_scale=1e308", "--generators", "garch"],
     ["garch vol_scale=1e+308", "must be in (0, 10]"])
case("kronos_temperature_text", G + ["--set", "kronos.temperature=abc", "--generators", "kronos"],
     ["kronos parameter temperature='abc'", "should be a number, e.g. 0.5"])
case("kronos_temperature_tiny", G + ["--set", "kronos.temperature=1e-308", "--generators", "kronos"],
     ["kronos temperature=1e-308", "out of range", "from 0.01 to 100"])
case("kronos_max_context_negative", G + ["--set", "kronos.max_context=-1", "--generators", "kronos"],
     ["kronos max_context=-1", "from 2 to 100,000"])
case("kronos_window_slide_negative", G + ["--set", "kronos.window_slide=-1", "--generators", "kronos"],
     ["kronos window_slide=-1", "must be >= 0"])

# --- generate: output paths (checked before any work) -----------------------------------------------------
case("out_is_cwd", ["generate", "--data", "t.csv", *WIN, "--out", "."], ["--out '.'", "working directory"], {"t.csv": GOOD})
case("out_is_parent", ["generate", "--data", "t.csv", *WIN, "--out", ".."], ["--out '..'", "working directory"],
     {"t.csv": GOOD})
case("out_is_input", ["generate", "--data", "t.csv", *WIN, "--out", "t.csv"], ["--out 't.csv'", "input data file"],
     {"t.csv": GOOD})
case("out_is_a_file", ["generate", "--data", "t.csv", *WIN, "--out", "notes.txt", "--overwrite"],
     ["--out 'notes.txt'", "existing file"], {"t.csv": GOOD, "notes.txt": b"keep me"})
case("out_under_a_file", ["generate", "--data", "t.csv", *WIN, "--out", "notes.txt/s.zarr"],
     ["notes.txt", "is not a directory"], {"t.csv": GOOD, "notes.txt": b"keep me"})
if os.path.isdir("/proc/1") and not os.access("/proc/1", os.W_OK):
    case("out_not_writable", ["generate", "--data", "t.csv", *WIN, "--out", "/proc/1/s.zarr"],
         ["/proc/1", "not writable"], {"t.csv": GOOD})
case("out_name_too_long", ["generate", "--data", "t.csv", *WIN, "--out", "x" * 300 + ".zarr"],  # an OS error, not a bug
     ["xxxx", "file name too long"], {"t.csv": GOOD})

# --- generate / data: data files that are not what they seem ----------------------------------------------
D = ["generate", *WIN, "--data"]
semicolon = csv_text(tiny_frame(), sep=";")
case("semicolons", D + ["t.csv"], ["t.csv", "separated by semicolons", "comma-separated"], {"t.csv": semicolon})
case("semicolons_decimal_commas", D + ["t.csv"], ["semicolons", "decimal commas", "decimal points"],
     {"t.csv": csv_text(tiny_frame(), sep=";", decimal=",")})
case("tabs", D + ["t.csv"], ["separated by tabs"], {"t.csv": csv_text(tiny_frame(), sep="\t")})
case("decimal_comma_quoted", D + ["t.csv"], ["t.csv line 2", "is not a number", "use a decimal point"],
     {"t.csv": csv_text(tiny_frame(), decimal=",", quoting=1)})
case("decimal_comma_unquoted", D + ["t.csv"], ["more fields than the header", "decimal commas"],
     {"t.csv": b"Date,Open,High,Low,Close\n2020-01-02,41,5,42,0,41,0,41,7\n2020-01-03,41,7,42,2,41,1,41,9\n"})
_huge = tiny_frame()
_huge[["Open", "High", "Low", "Close"]] *= 1e300
case("prices_overflow", D + ["t.csv"], ["t.csv line 2", "prices above 1e+15", "rescale the series"],
     {"t.csv": csv_text(_huge)})
_vol = tiny_frame()
_vol.loc[3, "Volume"] = 1.7e308
case("volume_overflow", D + ["t.csv"], ["t.csv line 5", "volume is 1.7e+308", "volumes above 1e+18"],
     {"t.csv": csv_text(_vol)})
_far = tiny_frame().astype({"Date": object})
_far.loc[2, "Date"] = "2300-01-01"
case("date_past_2262", D + ["t.csv"], ["t.csv line 4", "timestamp '2300-01-01'", "outside 1677-09-22 .. 2262-04-11"],
     {"t.csv": csv_text(_far)})
case("dates_as_numbers", D + ["t.csv"], ["t.csv line 2", "unparsable timestamp '20200101'", "numbers are not read as times"],
     {"t.csv": csv_text(tiny_frame().assign(Date=lambda f: f["Date"].str.replace("-", "").astype(int)))})
case("comment_line_first", D + ["t.csv"], ["t.csv: line 1 is a comment", "remove the comment lines"],
     {"t.csv": b"# prices from my broker\n" + GOOD})
case("close_twice_in_two_cases", D + ["t.csv"], ["t.csv", "'Close' and 'close' differ only in case", "keep one"],
     {"t.csv": csv_text(tiny_frame().assign(close=lambda f: f["Close"] * 2))})
case("xlsx_named_csv", D + ["t.csv"], ["t.csv", "Excel .xlsx", "save it from Excel as CSV"], {"t.csv": xlsx_bytes()})
case("xls_named_csv", D + ["t.csv"], ["Excel .xls workbook"], {"t.csv": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64})
case("gzip_named_csv", D + ["t.csv"], ["gzip-compressed", "rename it to t.csv.gz"], {"t.csv": gzip.compress(GOOD)})
case("parquet_named_csv", D + ["t.csv"], ["a Parquet file", ".parquet"], {"t.csv": parquet_bytes(tiny_frame())})
case("latin1", D + ["t.csv"], ["not UTF-8", "0xe9", "save it as UTF-8"], {"t.csv": GOOD.replace(b"Volume", "Volumé".encode("latin-1"))})
_LINES = GOOD.split(b"\n")
_LATER = b"\n".join(_LINES[:2] + [_LINES[2].replace(b",", b"\xe9,", 1)] + _LINES[3:])  # on line 3, not the header
_AT = _LATER.index(bytes([0xE9]))
case("latin1_later_line", D + ["t.csv"], ["not UTF-8", "0xe9 on line 3", f"at byte offset {_AT} of the file"],
     {"t.csv": _LATER})
case("utf16", D + ["t.csv"], ["UTF-16", "save it as UTF-8"], {"t.csv": GOOD.decode().encode("utf-16")})
case("empty_file", D + ["t.csv"], ["t.csv", "is empty"], {"t.csv": b""})
case("header_only", D + ["t.csv"], ["t.csv", "has no rows"], {"t.csv": b"Date,Open,High,Low,Close\n"})
case("data_is_a_directory", D + ["d.csv"], ["d.csv", "directory"], {"d.csv": None})
case("spreadsheet_extension", D + ["t.xlsx"], ["spreadsheets are not read", "CSV"], {"t.xlsx": xlsx_bytes()})
case("unknown_extension", D + ["t.json"], ["unknown file type '.json'"], {"t.json": b"{}"})
case("symbols_differ_in_case", D + ["t.csv"], ["'AAPL' (line 2)", "'aapl' (line 77)", "differ only in case"],
     {"t.csv": csv_text(tiny_frame().assign(Symbol=["AAPL"] * 75 + ["aapl"] * 75))})
case("blank_symbol", D + ["t.csv"], ["t.csv line 5", "empty symbol"],
     {"t.csv": csv_text(tiny_frame().assign(Symbol=["X"] * 3 + ["  "] + ["X"] * 146))})
case("split_2_for_1", D + ["t.csv"],
     ["t.csv", "0.501x", "on 2020-06-17", "unadjusted 2-for-1 split", "divide prices before 2020-06-17 by 2", "--accept-splits"],
     {"t.csv": csv_text(with_split(2.0))})
case("reverse_split_1_for_10", D + ["t.csv"], ["unadjusted 1-for-10 reverse split", "--accept-splits"],
     {"t.csv": csv_text(with_split(0.1))})
case("split_in_real_future", ["generate", "--seed-window", "2020-06", "--context", "100", "--horizon", "30",
                              "--n-paths", "5", "--generators", "garch", "--data", "t.csv"],
     ["on 2020-07-14", "3-for-1 split"], {"t.csv": csv_text(with_split(3.0, at=139))})
case("data_cmd_semicolons", ["data", "--data", "t.csv"], ["separated by semicolons"], {"t.csv": semicolon})
case("data_cmd_gzip_named_csv", ["data", "--data", "t.csv"], ["gzip-compressed"], {"t.csv": gzip.compress(GOOD)})
case("data_cmd_case", ["data", "--data", "t.csv"], ["differ only in case"],
     {"t.csv": csv_text(tiny_frame().assign(Symbol=["MSFT"] * 10 + ["msft"] * 140))})
case("data_cmd_missing", ["data", "--data", "nope.csv"], ["'nope.csv' does not exist"])

# --- user text with square brackets prints literally (not as console markup) -----------------------------
case("brackets_in_missing_file", ["generate", "--seed-window", "2020-01", "--data", "[red]prices[/red].csv"],
     ["'[red]prices[/red].csv' does not exist"])
case("brackets_in_symbol", ["generate", "--seed-window", "2020-01", "--symbol", "[bold]X"], ["unknown symbol '[bold]X'"])
case("brackets_in_window", ["generate", "--seed-window", "[red]2020"], ["--seed-window '[red]2020' is not YYYY"])
case("brackets_in_bad_value", ["generate", "--seed-window", "2020-01", "--n-paths", "[red]5"], ["--n-paths '[red]5'"])
case("brackets_in_data_file", ["data", "--data", "[x].csv"], ["[x].csv", "separated by semicolons"], {"[x].csv": semicolon})

# --- calibrate lists and sizes; a horizon past the timestamp range ----------------------------------------------
C = ["calibrate", "--windows", "2019-01:2019-02", "--n-paths", "24", "--out", "cal"]
case("calibrate_horizon_empty_item", C + ["--horizon", "21,,63"], ["--horizon '21,,63'", "separated by commas"])
case("calibrate_horizon_too_long", C + ["--horizon", "1000000"], ["--horizon 1000000", "more than 100,000"])
case("calibrate_symbols_repeated", C + ["--symbols", "AAPL,aapl"], ["repeats a symbol", "count twice"])
case("calibrate_symbols_empty", C + ["--symbols", ""], ["--symbols ''", "empty item"])
case("calibrate_generators_empty_item", C + ["--generators", "garch,,bootstrap"], ["'garch,,bootstrap'", "empty item"])
case("calibrate_out_empty", ["calibrate", "--windows", "2019-01:2019-02", "--out", ""], ["--out is empty"])
case("calibrate_html_empty", C + ["--html", ""], ["--html is empty"])
case("calibrate_workers_huge", C + ["--workers", "1000"], ["--workers 1000", "from 1 to 256"])
case("set_bool_spelled_python", ["generate", "--seed-window", "2020-01", "--set", "garch.fhs=True"],
     ["garch parameter fhs='True' should be true or false (default false)"])
case("set_twice", ["generate", "--seed-window", "2020-01", "--set", "garch.vol=egarch", "--set", "garch.vol=garch"],
     ["--set garch.vol is given twice ('egarch' and 'garch')", "keep one"])
if os.path.isdir("/sys/kernel"):
    case("out_in_sysfs", ["generate", "--seed-window", "2020-01", "--out", "/sys/kernel/x.zarr"],
         ["'/sys/kernel'", "virtual file system"])
case("generator_twice", ["generate", "--seed-window", "2020-01", "--generators", "garch,garch"],
     ["universe 'garch-gjr-t' would be made twice", "list each once"])
case("seed_window_on_a_holiday", ["generate", "--seed-window", "2019-12-25"],
     ["has no bars (no trading then?)", "bars on 2019-12-24 and 2019-12-26", "--seed-window 2019-12-24"])
case("generate_horizon_past_2262", ["generate", "--seed-window", "2019-12", "--horizon", "100000"],
     ["runs past 2262-04-11", "shorter --horizon"])

# --- scenario files ------------------------------------------------------------------------------------------
S = ["generate", "--scenario", "s.toml"]
HEAD = 'seed_window = "2020-01"\ngenerators = ["garch"]\n'
for name, body, needles in [
    ("temperature_nan", 'temperature = nan\n', ["temperature = nan", "not a finite number", "e.g. temperature = 1.0"]),
    ("temperature_list_inf", 'temperature = [1.0, inf]\n', ["temperature = inf", "not a finite number"]),
    ("n_paths_zero", 'n_paths = 0\n', ["n_paths = 0", "out of range"]),
    ("horizon_negative", 'horizon = -1\n', ["horizon = -1", "out of range"]),
    ("context_tiny", 'context = 10\n', ["context = 10", "from 100"]),
    ("top_p_two", 'top_p = 2.0\n', ["top_p = 2.0", "(0, 1]"]),
    ("seed_negative", 'seed = -3\n', ["seed = -3", "out of range"]),
    ("chunk_paths_zero", 'chunk_paths = 0\n', ["chunk_paths = 0"]),
    ("device_tpu", 'device = "tpu"\n', ["device = 'tpu'", "auto, cpu, cuda"]),
    ("accept_splits_text", 'accept_splits = "yes"\n', ["accept_splits = \"yes\" should be true or false"]),
    ("generator_param_nan", '[garch]\ndist = nan\n', ["[garch] dist = nan", "not a finite number"]),
    ("unknown_key", 'n_path = 10\n', ["unknown key 'n_path'"]),
    ("bool_for_int", 'n_paths = true\n', ["n_paths = true should be a whole number"]),
]:
    case(f"scenario_{name}", S, ["s.toml", *needles], {"s.toml": (HEAD + body).encode()})
case("scenario_with_bom", ["generate", "--scenario", "s.toml", "--n-paths", "0"], ["--n-paths"],
     {"s.toml": "\ufeffseed_window = \"2020-01\"\n".encode()})
case("scenario_date_unquoted", S, ["s.toml", "seed_window = 2020-01-31 is a TOML date, not text", "quote it: seed_window = \"2020-01-31\""],
     {"s.toml": b'seed_window = 2020-01-31\ngenerators = ["garch"]\n'})
case("scenario_not_utf8", S, ["s.toml", "not UTF-8"], {"s.toml": (HEAD + 'description = "café"\n').encode("latin-1")})
case("scenario_bad_toml", S, ["s.toml", "not valid TOML"], {"s.toml": b'seed_window = "2020-01\n'})
case("scenario_missing", ["generate", "--scenario", "nope.toml"], ["nope.toml", "does not exist"])
case("scenario_is_directory", ["generate", "--scenario", "sc"], ["sc", "directory"], {"sc": None})
case("scenario_cli_override_still_checked", S + ["--temperature", "inf"], ["--temperature inf", "not a finite number"],
     {"s.toml": HEAD.encode()})


def _snapshot(root: Path) -> tuple[str, list[str]]:
    """Every file's name and bytes (the tree digest) plus every path, so empty directories count too."""
    return tree_digest(root), sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, run_cli, monkeypatch):
    args, files, needles = CASES[name]
    monkeypatch.chdir(tmp_path)
    for fname, content in files.items():
        (tmp_path / fname).mkdir() if content is None else (tmp_path / fname).write_bytes(content)
    before = _snapshot(tmp_path)
    result = run_cli(*args)
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "internal error" not in lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    assert result.stdout == ""
    assert _snapshot(tmp_path) == before


def test_case_count():
    assert len(CASES) >= 60


@pytest.fixture(scope="module")
def small_store(tmp_path_factory, run_cli_module):
    root = tmp_path_factory.mktemp("store")
    out = root / "s.zarr"
    (root / "t.csv").write_bytes(GOOD)
    result = run_cli_module("generate", "--data", root / "t.csv", *WIN, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def run_cli_module():
    from click.testing import CliRunner

    from parallelverse.cli import main

    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("args", [
    ["--temperature", "nan", "--generators", "kronos", "--overwrite"],
    ["--n-paths", "1000000000", "--overwrite"],
    ["--data", "bad.csv", "--overwrite"],
    ["--horizon", "6"],  # another horizon: refused, not mixed in
])
def test_bad_input_leaves_an_existing_store_unchanged(args, small_store, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(small_store, tmp_path / "s.zarr")
    (tmp_path / "t.csv").write_bytes(GOOD)
    (tmp_path / "bad.csv").write_bytes(csv_text(tiny_frame(), sep=";"))
    before = _snapshot(tmp_path)
    base = ["generate", "--data", "t.csv", *WIN, "--out", "s.zarr"]
    result = run_cli(*base, *args)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert _snapshot(tmp_path) == before


def test_accept_splits_takes_the_jump_as_real(tmp_path, run_cli):
    (tmp_path / "t.csv").write_bytes(csv_text(with_split(2.0)))
    result = run_cli("generate", "--data", tmp_path / "t.csv", *WIN, "--out", tmp_path / "s.zarr", "--accept-splits", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["universes"][0]["paths"] == 5


def test_a_split_sized_jump_with_flat_volume_is_generated_with_a_warning(tmp_path, run_cli):
    """Unadjusted prices beside split-adjusted volume: the jump is taken as real (volume did not follow), and
    generate says so in one line, with the fix."""
    f = tiny_frame()
    f.loc[:119, ["Open", "High", "Low", "Close"]] *= 10.0  # prices unadjusted, volume left as it was
    (tmp_path / "t.csv").write_bytes(csv_text(f))
    result = run_cli("generate", "--data", tmp_path / "t.csv", *WIN, "--out", tmp_path / "s.zarr", "--json")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "0.100x the previous close" in line]
    assert len(warned) == 1 and "10-for-1 split" in warned[0] and "volume did not follow" in warned[0], result.stderr
    assert "adjust the prices too" in warned[0]
    # a split whose volume followed is refused, not warned about
    (tmp_path / "u.csv").write_bytes(csv_text(with_split(10.0)))
    result = run_cli("generate", "--data", tmp_path / "u.csv", *WIN, "--out", tmp_path / "u.zarr")
    assert result.exit_code != 0 and "volume did not follow" not in result.stderr


def test_data_warns_about_splits_in_one_line_and_lists(tmp_path, run_cli):
    (tmp_path / "t.csv").write_bytes(csv_text(with_split(4.0)))
    result = run_cli("data", "--data", tmp_path / "t.csv", "--json")
    assert result.exit_code == 0
    assert result.stderr.strip().splitlines() == [
        "warning: t opens at 0.250x the previous close on 2020-06-17, volume x4.2: looks like an unadjusted 4-for-1 "
        "split; adjust the data, or generate refuses windows over it unless --accept-splits"]
    doc = json.loads(result.stdout)
    assert doc["symbols"][0]["suspected_splits"][0]["factor"] == 4.0


def test_markup_in_names_prints_literally(tmp_path, run_cli):
    path = tmp_path / "[red]prices.csv"
    path.write_bytes(csv_text(tiny_frame().assign(Symbol="[b]X[/b]")))
    result = run_cli("data", "--data", path)
    assert result.exit_code == 0, result.output
    assert "[red]prices.csv: 1 symbol(s)" in result.stdout and "[b]X[/b]" in result.stdout


def test_json_is_strict(run_cli):
    from parallelverse.cli.console import strict_json

    assert strict_json({"a": float("nan"), "b": [np.float64("inf"), np.int64(3)], "c": np.array([1.5, -np.inf])}) == {
        "a": None, "b": [None, 3], "c": [1.5, None]}
    result = run_cli("data", "--json")

    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")

    assert json.loads(result.stdout, parse_constant=refuse)["source"] == "stocks_daily"


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"), (errno.ENOTDIR, "not a directory"),
])
def test_os_errors_are_one_line_with_the_path(code, words):
    from parallelverse.cli.console import describe_os_error

    line = describe_os_error(OSError(code, os.strerror(code), "/data/[x].zarr"))
    assert line.startswith("'/data/[x].zarr': ") and words in line and "\n" not in line


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs (needs root and mount rights; skipped elsewhere), unmounted afterwards."""
    import subprocess

    d = tmp_path / "fs"
    d.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_read_only_and_small_file_systems_are_refused_before_any_work(small_fs, tmp_path, run_cli):
    import subprocess

    (tmp_path / "t.csv").write_bytes(GOOD)
    args = ["generate", "--data", tmp_path / "t.csv", *WIN[:4], "--horizon", "252", "--generators", "garch"]
    result = run_cli(*args, "--n-paths", "500", "--out", small_fs / "s.zarr")  # ~5 MB on 1 MB
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "would write about 5.3 MB" in result.stderr and "use --n-paths 82 or fewer" in result.stderr
    assert list(small_fs.iterdir()) == []
    result = run_cli(*args, "--n-paths", "82", "--out", small_fs / "s.zarr")  # the suggested fix fits: an upper bound
    assert result.exit_code == 0, result.output
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    result = run_cli(*args, "--n-paths", "5", "--out", small_fs / "s2.zarr")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"'{small_fs}' is on a read-only file system; choose another --out" in result.stderr
    assert [p.name for p in small_fs.iterdir()] == ["s.zarr"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_while_writing_is_one_line_not_an_internal_error():
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "parallelverse", "data", "--json"], stdout=full,
                              stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: no space left on device; free some space or write elsewhere"]


def test_no_command_shows_the_help_not_an_error(run_cli):
    result = run_cli()
    assert result.exit_code == 2 and "Usage:" in result.output and "error:" not in result.output
    assert "generate" in result.output and "Commands:" in result.output


def test_resuming_counts_only_what_is_left_and_never_suggests_other_n_paths(tmp_path, monkeypatch):
    """After a full disk, the same command was refused against the whole store's size (the written chunks, being
    compressed, understated the progress) and told to use a smaller --n-paths, which a store made with its own
    refuses (a hostile tester)."""
    from parallelverse import inputs
    from parallelverse.generate import GenerateRequest, _check_size

    req = GenerateRequest(seed_window="2020-01", n_paths=400, chunk_paths=100)
    out = tmp_path / "s.zarr"
    full = 400 * 252 * inputs.BYTES_PER_BAR
    monkeypatch.setattr(inputs, "free_bytes", lambda p: full // 3)
    with pytest.raises(inputs.InputError, match="use --n-paths"):
        _check_size(req, ["garch-gjr-t"], 252, out)  # nothing written yet: fewer paths is the fix
    for f in ("open", "high", "low", "close", "volume"):  # three of four chunks of every field written
        for k in range(3):
            (out / "universes" / "garch-gjr-t" / f / "c" / "0").mkdir(parents=True, exist_ok=True)
            (out / "universes" / "garch-gjr-t" / f / "c" / "0" / str(k)).write_bytes(b"x")
    _check_size(req, ["garch-gjr-t"], 252, out)  # a quarter is left: it fits
    monkeypatch.setattr(inputs, "free_bytes", lambda p: full // 10)
    with pytest.raises(inputs.InputError, match=r"finishing .* needs about .* more \(15 of 20 chunks are written\).*"
                                                r"free some space and rerun the same command") as e:
        _check_size(req, ["garch-gjr-t"], 252, out)
    assert "--n-paths" not in str(e.value)
