"""``mdhmc targets``: the built-in targets as a table or JSON."""

from __future__ import annotations

from .errors import CLIError, one_line
from .report import json_dumps, yes

__all__ = ["cmd_targets"]


def cmd_targets(args) -> int:
    from mdhmc import targets
    from mdhmc.targets.builtin import DEFAULT_DIMS

    rows = []
    for name in targets.names():
        try:
            t = targets.get(name)
        except targets.TargetError as exc:
            raise CLIError(one_line(exc), status=1) from None
        rows.append({
            "name": t.name, "dim": t.dim, "exact_draws": t.has_exact, "gradient": t.has_gradient,
            "components": len(t.component_weights) if t.is_mixture else 0,
            "dim_adjustable": name in DEFAULT_DIMS,
            "description": t.description,
        })
    if args.json:
        print(json_dumps(rows))
        return 0
    head = ("name", "dim", "exact draws", "gradient", "components")
    table = [head] + [
        (r["name"], f"{r['dim']}{' (--target_dim)' if r['dim_adjustable'] else ''}", yes(r["exact_draws"]),
         yes(r["gradient"]), str(r["components"]) if r["components"] else "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0
