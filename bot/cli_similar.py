"""`csi-bot similar --calibrate FILE`: refit the similar-proposal warning on the register's own
known duplicate pairs, and store the result where the bot reads it (`CSI_WARNING_MODEL`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlmodel import Session

from bot.errors import CsiError
from bot.settings import Settings, SettingsError
from bot.similar_proposals import indexed_text
from bot.similarity import Match, SimilarityIndex
from bot.similarity.calibration import MIN_PAIRS, evaluate, labelled, refit
from bot.similarity.warning import POOL, Candidate, Proposed, WarningModel, model_for
from storage import repositories as repo
from storage.models import Proposal

# Where the refitted model goes when neither --output nor CSI_WARNING_MODEL says.
DEFAULT_OUTPUT = Path("csi-warning-model.json")


def warning_model(settings: Settings) -> WarningModel | None:
    """The warning model the settings choose (`CSI_WARNING_MODEL`, else the shipped one)."""
    try:
        return model_for(settings.similarity_method, settings.warning_model)
    except ValueError as exc:
        raise SettingsError(f"CSI_WARNING_MODEL={settings.warning_model}: {exc}") from exc


def read_pairs(path: Path, stored: dict[int, Proposal]) -> list[tuple[int, int]]:
    """Known duplicate pairs from a CSV file: a header row, then two proposals a row, each
    given by its number (`12` or `#12`) or by the register's own reference (`ref`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CsiError(f"Cannot read {path}: {exc}") from exc
    by_ref = {p.ref: pid for pid, p in stored.items() if p.ref}
    rows = list(csv.reader(io.StringIO(text)))
    pairs = []
    for number, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise CsiError(
                f"{path} line {number}: expected two proposals, like 12,7 or REF-3,REF-9."
            )
        ids = []
        for cell in cells[:2]:
            pid = by_ref.get(cell)
            if pid is None and cell.lstrip("#").isdigit():
                pid = int(cell.lstrip("#"))
            if pid is None or pid not in stored:
                raise CsiError(f"{path} line {number}: no stored proposal {cell!r}.")
            ids.append(pid)
        if ids[0] != ids[1]:
            pairs.append((ids[0], ids[1]))
    if len(pairs) < MIN_PAIRS:
        raise CsiError(
            f"{path}: {len(pairs)} duplicate pair(s); at least {MIN_PAIRS} are needed to refit "
            "the warning."
        )
    return pairs


def duplicate_sets(pairs: list[tuple[int, int]]) -> dict[int, set[int]]:
    """Each proposal of a pair with all the proposals it duplicates, directly or through others."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, set[int]] = {}
    for x in list(parent):
        groups.setdefault(root(x), set()).add(x)
    return {x: groups[root(x)] for x in parent}


def calibrate_command(
    *, path: Path, output: Path | None, settings: Settings, session: Session
) -> None:
    """Refit the warning on the pairs in `path` and write it to `output` (or the default)."""
    method = settings.similarity_method
    stored = {p.id or 0: p for p in repo.list_proposals(session=session)}
    groups = duplicate_sets(read_pairs(path, stored))
    base = model_for(method)
    # Every stored proposal counts here, merged and withdrawn ones too: they are the duplicates.
    try:
        index = SimilarityIndex(method)
    except ImportError as exc:
        raise SettingsError(f"CSI_SIMILARITY={method}: {exc}") from exc
    index.add_many((pid, *indexed_text(p)) for pid, p in stored.items())

    def search(proposed: Proposed, exclude: set[int]) -> list[Match]:
        return index.search(proposed.title, proposed.description, limit=POOL, exclude=exclude)

    def candidate(m: Match) -> Candidate:
        p = stored[m.doc_id]
        return Candidate(m.doc_id, m.score, p.title, p.service, p.objective_id, m.cosine)

    queries = []
    for pid, group in sorted(groups.items()):
        p = stored[pid]
        proposed = Proposed(*indexed_text(p), service=p.service, objective_id=p.objective_id)
        queries.append(labelled(search, candidate, proposed, pid, group, len(index)))
    before = evaluate(base, queries) if base is not None else None
    model = refit(queries, base=base, method=method)
    after = evaluate(model, queries)
    about = {
        "calibrated_on": path.name,
        "proposals_with_duplicates": len(queries),
        "stored": len(index),
        "before": before,
        "after": after,
    }
    model = WarningModel(**{**model.__dict__, "about": about})
    target = output or (Path(settings.warning_model) if settings.warning_model else DEFAULT_OUTPUT)
    try:
        target.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CsiError(f"Cannot write {target}: {exc}") from exc
    print(
        f"Refitted the warning on {len(queries)} proposals with known duplicates "
        f"({len(stored)} stored)."
    )
    for name, stats in (("before", before), ("after", after)):
        if stats is not None:
            print(
                f"  {name}: warns for {stats['recall']:.0%} of them rightly, "
                f"{stats['precision']:.0%} of warnings right, "
                f"{stats['false_warnings']:.0%} false warnings with the duplicates removed"
            )
    print("  (measured on the same pairs it was fitted on: expect somewhat less on new ones)")
    print(f"Written to {target}.")
    if settings.warning_model is None or Path(settings.warning_model) != target:
        print(f"The bot uses it once CSI_WARNING_MODEL={target} is set (in .env) and it restarts.")
    else:
        print("The bot uses it when it restarts.")
