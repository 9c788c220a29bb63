#!/usr/bin/env python3
"""Turns the raw rows of bench/run.sh into the results table.

    report.py META_JSON ROWS_JSONL OUT_PREFIX
    report.py bench/results/STAMP.json OUT_PREFIX    (re-render a stored run)

Writes OUT_PREFIX.json (everything measured) and OUT_PREFIX.md (the table),
and prints the Markdown to stdout. Standard library only.
"""

import json
import statistics
import sys

ORDER = [
    "health",
    "me",
    "list_items",
    "list_items_by_title",
    "list_items_deep",
    "get_item",
    "create_item",
    "list_posts",
    "graphql_posts",
    "list_products",
    "list_products_304",
    "list_products_miss",
    "create_order",
    "login",
    "health_before_login",
    "health_during_login",
]


def mib(kib):
    return kib / 1024


def errors_of(wrk):
    e = wrk["errors"]
    socket = e["connect"] + e["read"] + e["write"] + e["timeout"]
    return e["status"], socket


def fmt_errors(wrk):
    status, socket = errors_of(wrk)
    return "0" if status == 0 and socket == 0 else f"{status} non-2xx, {socket} socket"


def main():
    if len(sys.argv) == 3:
        # Re-render a stored result: report.py bench/results/X.json OUT_PREFIX
        stored = json.load(open(sys.argv[1]))
        meta, rows, prefix = stored["meta"], stored["rows"], sys.argv[2]
    else:
        meta_path, rows_path, prefix = sys.argv[1:4]
        meta = json.load(open(meta_path))
        rows = [json.loads(line) for line in open(rows_path) if line.strip()]
    rounds = sorted({r["round"] for r in rows})

    def runs(round_, scenario, server="strata"):
        return sorted(
            (r for r in rows
             if r["round"] == round_ and r["scenario"] == scenario and r["server"] == server),
            key=lambda r: r.get("pair", 1),
        )

    def find(round_, scenario, server="strata"):
        """The run with the median throughput (the lower one of an even count)."""
        found = sorted(runs(round_, scenario, server), key=lambda r: r["wrk"]["rps"])
        return found[(len(found) - 1) // 2] if found else None

    def ratios(round_, scenario):
        """Strata over the floor, pair by pair (both alternate, see run.sh)."""
        strata, floor = runs(round_, scenario), runs(round_, scenario, "floor")
        return [s["wrk"]["rps"] / f["wrk"]["rps"]
                for s, f in zip(strata, floor) if f["wrk"]["rps"] > 0]

    m = meta["machine"]
    lines = [
        f"# Strata load benchmark, {meta['timestamp']}",
        "",
        f"- Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- Servers pinned to CPU {meta['server_cpu']} (1 actix worker), wrk pinned to CPU "
        f"{meta['client_cpu']} (1 thread); {meta['duration_s']} s per scenario after a "
        f"{meta['warmup_s']} s warm-up; {meta['connections']} connections "
        f"({meta['login_connections']} for login)",
        f"- Database: {meta['database']}; seeded {meta['seed']['items']} items, "
        f"{meta['seed']['posts']} posts, {meta['seed']['comments']} comments in "
        f"{meta['seed']['seconds']} s",
        f"- Commit {meta['git']['commit']}{' (with uncommitted changes)' if meta['git']['dirty'] else ''}"
        + (f", binary built {meta['strata_binary_built']}" if meta.get("strata_binary_built") else "")
        + f"; {meta['rustc']}; {meta['wrk']}",
        "",
    ]

    def table(round_):
        out = [
            "| scenario | req/s | p50 ms | p99 ms | errors | ratio to floor | peak RSS MiB |",
            "|---|---:|---:|---:|---|---:|---:|",
        ]
        for name in ORDER:
            r = find(round_, name)
            if r is None:
                continue
            w = r["wrk"]
            ratio = ""
            pairs = ratios(round_, name)
            if pairs:
                ratio = f"{statistics.median(pairs):.2f}"
            out.append(
                f"| {name} | {w['rps']:.0f} | {w['latency_ms']['p50']:.2f} | "
                f"{w['latency_ms']['p99']:.2f} | {fmt_errors(w)} | {ratio} | {mib(r['vmhwm_kib']):.1f} |"
            )
        for name in ("health", "me"):
            f = find(round_, name, "floor")
            if f is None:
                continue
            w = f["wrk"]
            out.append(
                f"| floor: {name} | {w['rps']:.0f} | {w['latency_ms']['p50']:.2f} | "
                f"{w['latency_ms']['p99']:.2f} | {fmt_errors(w)} | 1.00 | {mib(f['vmhwm_kib']):.1f} |"
            )
        return out

    lines += table(rounds[0])
    lines.append("")
    notes = []
    for name in ("health", "me"):
        pairs = ratios(rounds[0], name)
        if len(pairs) > 1:
            notes.append(
                f"- {name}: {len(pairs)} alternating floor/Strata pairs; ratios "
                + ", ".join(f"{p:.3f}" for p in pairs)
                + f" (median {statistics.median(pairs):.3f}). The rows show each server's median run."
            )
    rest, graphql = find(rounds[0], "list_posts"), find(rounds[0], "graphql_posts")
    if rest and graphql and rest["wrk"]["rps"] > 0:
        notes.append(
            f"- graphql_posts: {graphql['wrk']['rps'] / rest['wrk']['rps']:.2f}x list_posts "
            "(the same page through GraphQL; issue #18 asks for at least 0.70x)"
        )
    # The baseline is the idle run just before, in the same server state; older
    # results have only the first `health` run.
    first = find(rounds[0], "health")
    idle = find(rounds[0], "health_before_login") or first
    busy = find(rounds[0], "health_during_login")
    bg = find(rounds[0], "login_background")
    if idle and busy:
        i99, b99 = idle["wrk"]["latency_ms"]["p99"], busy["wrk"]["latency_ms"]["p99"]
        # Before/during pairs (run.sh repeats them); older results have one.
        p99_pairs = [
            d["wrk"]["latency_ms"]["p99"] / b["wrk"]["latency_ms"]["p99"]
            for b, d in zip(runs(rounds[0], "health_before_login"),
                            runs(rounds[0], "health_during_login"))
            if b["wrk"]["latency_ms"]["p99"] > 0
        ]
        if len(p99_pairs) > 1:
            note = (
                f"- health_during_login: /health p99 during login against idle just before, "
                f"{len(p99_pairs)} pairs: "
                + ", ".join(f"{p:.2f}x" for p in p99_pairs)
                + f" (median **{statistics.median(p99_pairs):.2f}x**); the rows show the runs "
                f"with the median throughput ({b99:.2f} ms during, {i99:.2f} ms idle)"
            )
        else:
            note = (
                f"- health_during_login: /health p99 {b99:.2f} ms against {i99:.2f} ms idle "
                f"just before ({b99 / i99 if i99 else float('nan'):.2f}x)"
            )
        if first and first is not idle:
            f99 = first["wrk"]["latency_ms"]["p99"]
            note += f"; against the first `health` run's {f99:.2f} ms: {b99 / f99 if f99 else float('nan'):.2f}x"
        if bg:
            note += (
                f", while {bg['connections']} login connections completed "
                f"{bg['wrk']['rps']:.1f} logins/s (p99 {bg['wrk']['latency_ms']['p99']:.0f} ms)"
            )
        notes.append(note + ".")
    hwm = meta.get("strata_vmhwm_kib", {})
    if hwm:
        notes.append(
            f"- Strata VmHWM: {mib(hwm.get('after_startup', 0)):.1f} MiB after start-up, "
            f"{mib(hwm.get('after_seeding', 0)):.1f} MiB after seeding; the peak RSS column is "
            "VmHWM read after each scenario, so it only grows through the run."
        )
    noisy = [
        f"{r['server']} {r['scenario']}"
        + (f" (round {r['round']})" if len(rounds) > 1 else "")
        + f" {r['foreign_cpu_pct']:.0f}%"
        for r in rows
        if (r.get("foreign_cpu_pct") or 0) > 5
    ]
    if noisy and meta.get("database") == "postgres":
        notes.append(
            "- Other processes took CPU time on the server's core during "
            + ", ".join(noisy)
            + ". PostgreSQL is not pinned and counts as other load, so this is at least partly the "
            "database's own work; check for other processes before trusting those numbers."
        )
    elif noisy:
        notes.append(
            "- **Not a quiet machine**: other processes took CPU time on the server's core during "
            + ", ".join(noisy)
            + ". Numbers from those scenarios are pessimistic; rerun on a quiet machine."
        )
    elif any(r.get("foreign_cpu_pct") is not None for r in rows):
        worst = max((r.get("foreign_cpu_pct") or 0) for r in rows)
        notes.append(
            f"- Other processes took at most {worst:.1f}% of the server's core during any scenario."
        )
    lines += notes

    if len(rounds) > 1:
        lines += [
            "",
            "## Leak check",
            "",
            "| round | VmRSS MiB at end | VmHWM MiB at end | health req/s | me req/s | list_items req/s |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for rd in rounds:
            # One per round, and without a wrk result to rank by.
            end = runs(rd, "_round_end")[0]
            cells = []
            for name in ("health", "me", "list_items"):
                r = find(rd, name)
                cells.append(f"{r['wrk']['rps']:.0f}" if r else "")
            lines.append(
                f"| {rd} | {mib(end['vmrss_kib']):.1f} | {mib(end['vmhwm_kib']):.1f} | "
                + " | ".join(cells)
                + " |"
            )
        for rd in rounds[1:]:
            lines += ["", f"### Round {rd}", ""] + table(rd)

    markdown = "\n".join(lines) + "\n"
    with open(prefix + ".md", "w") as f:
        f.write(markdown)
    with open(prefix + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
        f.write("\n")
    sys.stdout.write(markdown)


if __name__ == "__main__":
    main()
