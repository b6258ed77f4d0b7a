"""`make test-faults`: every experiment with its full trial count; prints the table and writes it
into docs/reliability.md (between the results markers) and tests/faults/results.json.

usage: python -m tests.faults.run [--only N ...] [--seed S] [--profile full|fast]
                                 [--trials T] [--records R]

`--trials` and `--records` replace the profile's sizes (for a larger one-off run); the table in
docs/reliability.md is rewritten only by a run of every experiment at the full profile's sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import os
import re
import tempfile
from pathlib import Path

import orjson

from syncer import db, log
from tests.faults.catalog import EXPERIMENTS
from tests.faults.harness import ROOT, Experiment, lab

DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def table(results: list[Experiment], profile: str, seed: int) -> str:
    day = datetime.date.today().isoformat()
    lines = [
        f"Last run: {day}, `make test-faults` (profile {profile}, seed {seed}).",
        "",
        "| # | experiment | trials | passed | lost | duplicated | wrongly deleted "
        "| endless passes | stalled streams | time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.number} | {r.name} | {r.trials} | {r.passed} | {r.lost} | {r.duplicated} "
            f"| {r.wrongly_deleted} | {r.endless} | {r.stalled} | {r.seconds:.0f} s |"
        )
    total = sum(r.seconds for r in results)
    count = f"{len(results)} experiment{'' if len(results) == 1 else 's'}"
    lines += ["", f"{count}, {total / 60:.1f} minutes in all."]
    notes = [f"- {r.number}: {' '.join(n.split())}" for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=("full", "fast"), default="full")
    parser.add_argument("--trials", type=int, help="trials of each chosen experiment")
    parser.add_argument("--records", type=int, help="records of each chosen experiment")
    args = parser.parse_args()
    log.configure(json=True, level="warning")
    admin = os.environ.get("SYNCER_FAULTS_DATABASE_URL") or db.resolve_url()
    chosen = [EXPERIMENTS[n] for n in sorted(EXPERIMENTS) if not args.only or n in args.only]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for spec in chosen:
            print(f"experiment {spec.number}: {spec.name} ...", flush=True)
            async with lab(admin, Path(work) / str(spec.number)) as it:
                result = await spec.run(it, args.profile, args.seed, args.trials, args.records)
            print(
                f"  {result.passed}/{result.trials} passed, lost {result.lost}, duplicated "
                f"{result.duplicated}, wrongly deleted {result.wrongly_deleted}, endless passes "
                f"{result.endless}, stalled streams {result.stalled} "
                f"({result.seconds:.0f} s)",
                flush=True,
            )
            results.append(result)
    text = table(results, args.profile, args.seed)
    print()
    print(text)
    (ROOT / "tests" / "faults" / "results.json").write_bytes(
        orjson.dumps([dataclasses.asdict(r) for r in results], option=orjson.OPT_INDENT_2)
    )
    resized = args.trials or args.records
    if not args.only and not resized and args.profile == "full" and DOC.exists():
        doc = DOC.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        DOC.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", doc))
    return 0 if all(r.passed == r.trials for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
