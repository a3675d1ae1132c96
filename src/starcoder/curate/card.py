"""The data card, built generically from the datatrove stats of every step of every stage.

- kept files/bytes per language and per licence come from `card/languages/...`, `card/licenses/...`;
- "removed per reason" lists every `dropped_<reason>` stat of every step (filters count these
  automatically), with bytes where a step also records `card/removed/<reason>/bytes`;
- any other `card/<section>/<row>/<metric>` stat of any step becomes its own section, so steps
  added later (near-dedup, PII, decontamination, opt-out) appear without changes here.
Per-task stats files (`stats/<rank>.json`) are summed, so a resumed run gives the same card.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

CARD_SECTIONS_FIRST = ("languages", "licenses")


def _sum_stage(stage_dir: Path) -> list[dict]:
    """[{name, stats: {key: total}}] per step, summed over every task of a stage."""
    from datatrove.utils.stats import PipelineStats
    total = PipelineStats()
    for f in sorted((stage_dir / "stats").glob("*.json")):
        total += PipelineStats.from_json(json.loads(f.read_text()))
    out = []
    for st in total.stats:
        values = {}
        for key, metric in st.stats.items():
            # summed stats are MetricStats; a lone task's stats stay as saved (a number or a dict)
            values[key] = metric.total if hasattr(metric, "total") else metric["total"] if isinstance(metric, dict) else float(metric)
        out.append({"name": st.name.split(": ", 1)[-1], "stats": values})  # "🔻 - FILTER: xml filter" -> "xml filter"
    return out


def build_card(logs_dir: str | Path, stages: list[str], title: str = "Curated code dataset", options: dict | None = None) -> dict:
    logs = Path(logs_dir)
    steps, sections = [], defaultdict(lambda: defaultdict(dict))
    removed = defaultdict(lambda: {"files": 0, "bytes": None, "step": None})
    for stage in stages:
        for step in _sum_stage(logs / stage):
            stats = step["stats"]
            steps.append({"stage": stage, "step": step["name"],
                          **{k: int(v) for k, v in stats.items() if k in ("total", "forwarded", "dropped", "documents", "bytes")}})
            for key, value in stats.items():
                if key.startswith("dropped_"):
                    reason = key[len("dropped_"):]
                    removed[reason]["files"] += int(value)
                    removed[reason]["step"] = step["name"]
                elif key.startswith("card/"):
                    _, section, rest = key.split("/", 2)
                    row, metric = rest.rsplit("/", 1)
                    cell = sections[section][row]
                    cell[metric] = cell.get(metric, 0) + int(value)
    for reason, cell in sections.pop("removed", {}).items():
        removed[reason]["bytes"] = cell.get("bytes")
    ordered = {s: dict(sorted(sections[s].items(), key=lambda kv: (-kv[1].get("bytes", 0), kv[0])))
               for s in list(CARD_SECTIONS_FIRST) + sorted(set(sections) - set(CARD_SECTIONS_FIRST)) if s in sections}
    kept_files = sum(c.get("files", 0) for c in ordered.get("languages", {}).values())
    kept_bytes = sum(c.get("bytes", 0) for c in ordered.get("languages", {}).values())
    return {"title": title, "kept": {"files": kept_files, "bytes": kept_bytes}, "sections": ordered,
            "removed": dict(sorted(removed.items(), key=lambda kv: (-kv[1]["files"], kv[0]))),
            "steps": steps, "options": options or {}}


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def card_markdown(card: dict) -> str:
    out = [f"# {card['title']}", "", f"Kept: {card['kept']['files']:,} files, {card['kept']['bytes']:,} bytes.", ""]
    for section, rows in card["sections"].items():
        metrics = sorted({m for c in rows.values() for m in c}, key=lambda m: (m != "files", m))
        out += [f"## {section.replace('_', ' ').capitalize()}", "",
                _md_table([section.rstrip("s")] + metrics, [[r] + [f"{c.get(m, 0):,}" for m in metrics] for r, c in rows.items()]), ""]
    out += ["## Removed per reason", "", _md_table(["reason", "files", "bytes", "step"], [
        [r, f"{c['files']:,}", "" if c["bytes"] is None else f"{c['bytes']:,}", c["step"]] for r, c in card["removed"].items()]), ""]
    out += ["## Pipeline steps", "", _md_table(["stage", "step", "in", "kept", "dropped"], [
        [s["stage"], s["step"], s.get("total", s.get("documents", "")), s.get("forwarded", ""), s.get("dropped", "")]
        for s in card["steps"]]), ""]
    if card.get("options"):
        out += ["## Options", "", "```json", json.dumps(card["options"], indent=2, sort_keys=True), "```", ""]
    return "\n".join(out)


def card_chart(card: dict, path: str | Path) -> None:
    """Bar charts: kept bytes per language, removed files per reason."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    langs = list(card["sections"].get("languages", {}).items())[:20]
    reasons = list(card["removed"].items())[:20]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5))
    a.barh([k for k, _ in langs][::-1], [v.get("bytes", 0) / 1e6 for _, v in langs][::-1])
    a.set_xlabel("MB kept")
    a.set_title("Kept per language")
    b.barh([k for k, _ in reasons][::-1], [v["files"] for _, v in reasons][::-1], color="tab:red")
    b.set_xlabel("files removed")
    b.set_title("Removed per reason")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_card(out_dir: str | Path, logs_dir: str | Path, stages: list[str], options: dict | None = None) -> dict:
    out = Path(out_dir)
    card = build_card(logs_dir, stages, options=options)
    tmp = out / "data_card.json.tmp"
    tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, out / "data_card.json")
    (out / "data_card.md").write_text(card_markdown(card))
    card_chart(card, out / "data_card.png")
    return card
