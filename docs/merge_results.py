"""Fold new `faceinpaint-eval --json` runs into docs/results/learned-PROTOCOL.{json,md} and the README's
tables, replacing the rows of the models they measured and keeping the others.

Why: retraining one model should not mean re-evaluating all four; every run uses the same
held-out subset, seed and masks (the config must match, or the run is refused), so rows from
separate runs are comparable.

Run from the repository root:  python3 docs/merge_results.py RUN.json [RUN.json ...]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from engine.evaluation import PROTOCOLS, EvalReport

RESULTS = Path("docs/results")
README = Path("README.md")
# Config keys that must agree for rows of two runs to share a table.
SAME = ("protocol", "resolution", "limit", "subset", "seed", "face_backend", "data", "masks", "images", "skipped")
MODEL_ORDER = ("collagan", "gfc", "mde", "pdgan")


def merge(current: dict, new: dict) -> dict:
    """The current report with the models of ``new`` replaced by its rows."""
    for key in SAME:
        if current["config"].get(key) != new["config"].get(key):
            raise SystemExit(f"refused: {key} differs ({current['config'].get(key)!r} here, "
                             f"{new['config'].get(key)!r} in the new run)")
    measured = {row["model"] for row in new["rows"]}
    rows = [row for row in current["rows"] if row["model"] not in measured] + new["rows"]
    models = [m for m in MODEL_ORDER if any(r["model"] == m for r in rows)]
    models += sorted({r["model"] for r in rows} - set(models))
    cases = current["config"]["cases"]
    rows.sort(key=lambda r: (models.index(r["model"]), cases.index(r["case"])))
    config = dict(current["config"])
    config["models"] = models
    config["weights"] = {**current["config"].get("weights", {}), **new["config"].get("weights", {})}
    config["resized_models"] = sorted({*current["config"].get("resized_models", []),
                                       *new["config"].get("resized_models", [])})
    return {**current, "rows": rows, "config": config}


def _table_row(model: str, cells: list[str]) -> str:
    return f"| {model} | " + " | ".join(cells) + " |"


def update_readme(text: str, report: dict) -> str:
    """Rewrite the README rows of the merged models in the protocol's quality and NME/identity tables."""
    protocol = report["config"]["protocol"]
    cases = report["config"]["cases"]
    cell = {(r["model"], r["case"]): r for r in report["rows"]}
    start = text.index(f"`{protocol}`, ")
    first_table = text.index("\n|---", start)
    end = text.index("\n\n", text.index("\n|---", first_table + 1) if protocol != "irregular" else first_table)
    block = text[start:end]
    for model in {r["model"] for r in report["rows"]}:
        quality = [f"{cell[(model, c)]['ssim'] * 100:.1f}/{cell[(model, c)]['psnr']:.2f}" for c in cases]
        block, count = re.subn(rf"^\| {re.escape(model)} \|[^\n]*$", _table_row(model, quality), block,
                               count=1, flags=re.M)
        if not count:
            print(f"README: no {model} row in the {protocol} table; left as it was", file=sys.stderr)
            continue
        if cell[(model, cases[0])].get("landmark_nme") is not None:
            faces = [f"{cell[(model, c)]['landmark_nme']:.3f}/{cell[(model, c)]['identity_dist']:.3f}" for c in cases]
            second = block.index("Landmark NME")
            tail = re.sub(rf"^\| {re.escape(model)} \|[^\n]*$", _table_row(model, faces), block[second:],
                          count=1, flags=re.M)
            block = block[:second] + tail
    return text[:start] + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON written by faceinpaint-eval --json")
    parser.add_argument("--no-readme", action="store_true", help="update docs/results only")
    args = parser.parse_args(argv)
    text = README.read_text()
    for run in args.runs:
        new = json.loads(run.read_text())
        protocol = new["config"]["protocol"]
        target = RESULTS / f"learned-{protocol}.json"
        merged = merge(json.loads(target.read_text()), new)
        report = EvalReport(merged["rows"], merged["skipped_images"], merged["config"],
                            merged["config"]["cases"], PROTOCOLS[protocol].labels)
        target.write_text(json.dumps(merged, indent=2) + "\n")
        target.with_suffix(".md").write_text(report.to_markdown())
        if not args.no_readme:
            text = update_readme(text, merged)
        print(f"{target}: {', '.join(sorted({r['model'] for r in new['rows']}))} replaced")
    if not args.no_readme:
        README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
