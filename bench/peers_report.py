"""bench/peers.py's report: the machine line, per thread count a table model x engine with
PatSparse's speed-ups, the errors, and a PNG chart of the speed-up over the fastest dense engine."""

from __future__ import annotations

from pathlib import Path

from common import machine_line, measured_bandwidth_gbs, measured_peak_gflops, replace_section
from peer_engines import PATSPARSE, PEERS, TUNING_BUDGET_S, TUNING_CANDIDATES

BEGIN, END = "<!-- bench/peers.py: begin -->", "<!-- bench/peers.py: end -->"
BEST = "patsparse tuned"


def machine() -> dict:
    from patsparse.pipeline import host_vector_width

    return {"cpu": machine_line(), "peak_gflops": measured_peak_gflops(host_vector_width()),
            "bandwidth_gbs": measured_bandwidth_gbs()}


def ms(record: dict | None) -> float | None:
    return record["ms"] if record and record.get("status") == "ok" else None


def fastest(row: dict, names: list[str]) -> tuple[str | None, float | None]:
    timed = [(ms(row.get(name)), name) for name in names if ms(row.get(name))]
    return (min(timed)[1], min(timed)[0]) if timed else (None, None)


def cell(record: dict | None) -> str:
    if record is None:
        return "—"
    if record.get("status") == "ok":
        return f"{record['ms']:.2f}"
    return {"wrong": "wrong", "failed": "failed", "unavailable": "n/i", "n/a": "—"}.get(record.get("status"), "?")


def dense_fastest(table: dict, label: str) -> tuple[str | None, float | None]:
    """The fastest peer on the dense weights of `label`'s model (the engine a user would deploy the
    unpruned model with)."""
    return fastest(table.get(label.split()[0] + " dense", {}), PEERS)


def thread_section(threads: str, table: dict, engines: list[str]) -> list[str]:
    shown = [name for name in PATSPARSE + PEERS if name in engines]
    peers = [name for name in PEERS if name in engines]
    lines = [f"### {threads} thread{'s' if threads != '1' else ''}", "",
             ("Latency in ms (median; — = not applicable, n/i = not installed, wrong = output differs from "
             "PyTorch, failed = could not convert or run: reasons below)."), "",
             "| model | " + " | ".join(shown) + " | fastest peer | tuned / fastest peer | fastest dense peer | "
             "tuned / fastest dense |", "|---" * (len(shown) + 5) + "|"]
    for label, row in table.items():
        name, best = fastest(row, peers)
        dense_name, dense_best = dense_fastest(table, label)
        tuned = ms(row.get(BEST))
        lines.append(f"| {label} | " + " | ".join(cell(row.get(n)) for n in shown)
                     + f" | {name or '—'} | " + (f"{best / tuned:.2f}x" if tuned and best else "—")
                     + f" | {dense_name or '—'} | " + (f"{dense_best / tuned:.2f}x" if tuned and dense_best else "—") + " |")
    lines += ["", ("PatSparse tuned's speed-up over each engine (the engine's time / PatSparse tuned's, same weights; "
              "above 1: PatSparse is faster):"), "",
              "| model | " + " | ".join(n for n in shown if n != BEST) + " |", "|---" * len(shown) + "|"]
    for label, row in table.items():
        tuned = ms(row.get(BEST))
        if not tuned:
            continue
        lines.append(f"| {label} | " + " | ".join(f"{ms(row.get(n)) / tuned:.2f}x" if ms(row.get(n)) else "—"
                                                for n in shown if n != BEST) + " |")
    return lines + [""]


def summary(results: dict) -> list[str]:
    """Per model and thread count: the fastest dense engine, and PatSparse tuned's ratio to it."""
    variants = [v for v in ("p8", "p8+8x") if any(label.endswith(" " + v) for label in results["cases"])]
    lines = [("Per model: the fastest peer on the dense weights, and PatSparse tuned's speed-up over it "
             "(its time / PatSparse tuned's on the pruned weights):"), "",
             "| model | threads | fastest dense engine | its ms | " + " | ".join(f"PatSparse {v} speed-up" for v in variants)
             + " |", "|---" * (4 + len(variants)) + "|"]
    for threads, table in results["threads"].items():
        for model in dict.fromkeys(label.split()[0] for label in table):
            name, best = dense_fastest(table, f"{model} dense")
            ratios = []
            for variant in variants:
                tuned = ms(table.get(f"{model} {variant}", {}).get(BEST))
                ratios.append(f"{best / tuned:.2f}x" if tuned and best else "—")
            lines.append(f"| {model} | {threads} | {name or '—'} | " + (f"{best:.2f}" if best else "—") + " | "
                         + " | ".join(ratios) + " |")
    return lines + [""]


def reasons(results: dict) -> list[str]:
    seen = {}
    for table in results["threads"].values():
        for label, row in table.items():
            for name, record in row.items():
                if record.get("status") in ("wrong", "failed", "unavailable"):
                    seen.setdefault((name, record.get("reason", "")), []).append(label)
    lines = []
    for (name, reason), labels in seen.items():
        where = "every model" if len(set(labels)) == len(results["cases"]) else ", ".join(sorted(set(labels)))
        lines.append(f"- **{name}** ({where}): {reason}")
    return lines


def error_table(results: dict) -> list[str]:
    table = next(iter(results["threads"].values()))
    shown = [name for name in PATSPARSE + PEERS if name in results["engines"]]
    lines = ["Max abs error against PyTorch eager (1 thread), and in brackets as a fraction of the largest |output|:", "",
             "| model | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for label, row in table.items():
        lines.append(f"| {label} | " + " | ".join(
            "reference" if n == "pytorch eager" and row.get(n, {}).get("status") == "ok" else
            f"{row[n]['error']:.1e} ({row[n]['relative']:.0e})" if row.get(n, {}).get("error") is not None else "—"
            for n in shown) + " |")
    return lines + [""]


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thread_counts = list(results["threads"])
    figure, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4), squeeze=False)
    for axis, threads in zip(axes[0], thread_counts):
        table = results["threads"][threads]
        models = list(dict.fromkeys(label.split()[0] for label in table))
        variants = [v for v in ("p8", "p8+8x") if any(label.split()[1] == v for label in table)]
        width = 0.8 / max(1, len(variants))
        for offset, variant in enumerate(variants):
            values = []
            for model in models:
                _, dense_best = dense_fastest(table, f"{model} {variant}")
                tuned = ms(table.get(f"{model} {variant}", {}).get(BEST))
                values.append(dense_best / tuned if tuned and dense_best else 0.0)
            positions = [i + (offset - (len(variants) - 1) / 2) * width for i in range(len(models))]
            bars = axis.bar(positions, values, width, label=f"PatSparse tuned, {variant}")
            axis.bar_label(bars, [f"{v:.1f}x" if v else "" for v in values], fontsize=7)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(models)), models, rotation=20, fontsize=8)
        axis.set_ylabel("speed-up over the fastest dense engine")
        axis.set_title(f"{threads} thread{'s' if threads != '1' else ''}")
        axis.legend(fontsize=8)
    figure.suptitle(f"{results['machine']['cpu']}; peak {results['machine']['peak_gflops']:.0f} GFLOP/s/core",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(results: dict, chart_name: str) -> str:
    m = results["machine"]
    lines = [BEGIN, "", "Generated by `.venv/bin/python bench/peers.py " + " ".join(results["argv"]) + "` "
             f"({results['seconds'] / 60:.0f} min).", "",
             (f"Machine: {m['cpu']}; measured single-thread f32 FMA peak **{m['peak_gflops']:.0f} GFLOP/s** "
             f"(bench/peak.c), single-thread memory read bandwidth **{m['bandwidth_gbs']:.0f} GB/s** (numpy sdot "
             "over 2 x 256 MiB), both in the same run. Batch 1, fp32, median latency over interleaved rounds after "
             "warm-up; each thread count in its own processes. *patsparse tuned* = `patsparse-tune "
             f"--budget {TUNING_BUDGET_S} --candidates {TUNING_CANDIDATES} --runs 3` (the busiest layers first) then "
             "`-O --tuning-db`; *sparse* = default options; *dense* = no pattern detection. The peers run dense code "
             "whatever the weights; *fastest dense peer* is the fastest peer on the model's dense weights, the "
             "engine a user would deploy the unpruned model with."), "",
             "Versions: " + ", ".join(f"{name} {version}" for name, version in results["versions"].items()) + ".", ""]
    lines += summary(results)
    for threads, table in results["threads"].items():
        lines += thread_section(threads, table, results["engines"])
    lines += error_table(results)
    why = reasons(results)
    if why:
        lines += ["Engines without a time, and why:", "", *why, ""]
    lines += [f"![PatSparse tuned over the fastest dense engine]({chart_name})", "", END]
    return "\n".join(lines)


def write_report(results: dict, out: Path, chart_path: Path) -> None:
    chart(results, chart_path)
    replace_section(out, BEGIN, END, section(results, chart_path.name),
                    heading="## PatSparse and its peers (bench/peers.py)\n\n")
