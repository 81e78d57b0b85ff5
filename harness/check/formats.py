"""How a check's diffs are shown: the text table ``harness check`` prints, and JUnit XML for CI."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.check.config import DEFAULT_TOLERANCE, PerturbationRule
from harness.check.judge import format_interval, format_number, rule_text
from harness.check.model import NEW, PASS, MemberDiff


def render_table(
    diffs: Sequence[MemberDiff],
    tolerance: float = DEFAULT_TOLERANCE,
    verdict: bool = True,
    perturbation: PerturbationRule | None = None,
) -> str:
    """The diff table ``harness check`` prints, with a one-line verdict and the rule as footer.

    ``verdict=False`` (``--update-baseline``): the last line lists what changed instead.
    """
    width = max([len("member")] + [len(d.key) for d in diffs]) + 2
    header = (
        f"{'member':<{width}}{'metric':<14}{'baseline':>9}{'current':>9}{'delta':>9}  "
        f"{'95% CI (current)':<18}  status"
    )
    lines = [header, "-" * len(header)]
    for d in diffs:
        metric = "AUROC clean" if d.metric == "auroc_clean" else "AUROC attacked"
        delta = "" if d.delta is None else f"{d.delta:+.4f}"
        status = d.status.upper() if (d.failed or d.errored) else d.status
        ci = format_interval(d.ci) if d.current is not None else ""
        lines.append(
            f"{d.key:<{width}}{metric:<14}{format_number(d.baseline):>9}{format_number(d.current):>9}"
            f"{delta:>9}  {ci:<18}  {status}"
        )
    problems = [d for d in diffs if d.failed or d.errored]
    lines.append("-" * len(header))
    for d in diffs:
        if d.status not in (PASS, NEW) or d.notes:
            for text in (d.message, *d.notes):
                lines.append(f"{d.key}: {text}")
    if not verdict:
        changed = [d.key for d in diffs if d.status != PASS or d.notes]
        lines.append(
            f"changed (beyond the tolerance, new, missing or other settings): {len(changed)} of "
            f"{len(diffs)} values" + (f" ({', '.join(changed)})" if changed else "")
        )
    elif problems:
        lines.append(
            f"FAILED: {len(problems)} of {len(diffs)} checks ("
            + ", ".join(f"{d.key}: {d.status}" for d in problems)
            + ")"
        )
    else:
        lines.append(f"passed: {len(diffs)} checks")
    lines.append(rule_text(tolerance, perturbation))
    return "\n".join(lines)


def junit_xml(
    diffs: Sequence[MemberDiff],
    *,
    name: str = "harness check",
    classname: str = "harness.check",
    times: Mapping[str, float] | None = None,
    seconds: float = 0.0,
    timestamp: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> str:
    """JUnit XML for CI systems (GitLab, Jenkins, GitHub): one testsuite, one testcase per diff.

    A regression is a ``<failure>``, a member whose attack failed an ``<error>``, a new member
    (not judged) ``<skipped>``; every message carries the numbers.
    """
    import xml.etree.ElementTree as ET

    times = times or {}
    counts = {
        "tests": str(len(diffs)),
        "failures": str(sum(d.failed for d in diffs)),
        "errors": str(sum(d.errored for d in diffs)),
        "skipped": str(sum(d.status == NEW for d in diffs)),
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": name, **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            **counts,
            "timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": _hostname(),
        },
    )
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": str(key), "value": "" if value is None else str(value)})
    for d in diffs:
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": d.key, "time": f"{times.get(d.key, 0.0):.3f}"}
        )
        text = "\n".join((d.message, *d.notes))
        if d.errored:
            ET.SubElement(case, "error", {"message": d.message, "type": d.status}).text = text
        elif d.failed:
            ET.SubElement(case, "failure", {"message": d.message, "type": d.status}).text = text
        elif d.status == NEW:
            ET.SubElement(case, "skipped", {"message": d.message})
        else:
            ET.SubElement(case, "system-out").text = f"{d.status}: {text}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _hostname() -> str:
    import socket

    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


__all__ = ["junit_xml", "render_table"]
