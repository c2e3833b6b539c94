"""The report as the terminal shows it: a table per service and a closing line."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from infra.status.results import StackStatus


def render(report: StackStatus) -> list[RenderableType]:
    """One table per service, its problems under it, and a closing line."""
    out: list[RenderableType] = []
    for service in report.services:
        mark = "[green]healthy[/green]" if service.healthy else "[red]unhealthy[/red]"
        table = Table(title=f"{service.title}: {mark}", title_justify="left")
        for column in ("node", "role", "state", "version", "endpoint"):
            table.add_column(column, overflow="fold")
        for row in service.rows:
            table.add_row(row.node, row.role,
                          Text(row.state, style="green" if row.healthy else "red"),
                          row.version, row.endpoint)
        out.append(table)
        out += [Text(f"  {problem}", style="red") for problem in service.problems]
    if report.alerts:
        out.append(Text(f"Alerts firing ({len(report.alerts)}):", style="bold red"))
        out += [Text(f"  {a.line()}", style="red") for a in report.alerts]
    if report.standins:
        out.append(Text(f"  {', '.join(report.standins)}: smack's TEST STAND-INS "
                        "(tests/standins), not Apache Mesos / Marathon", style="yellow"))
    checks = sum(len(s.rows) for s in report.services)
    if not report.services:
        out.append(Text(f"stack {report.stack}: the inventory lists no service nodes"))
    elif report.healthy:
        out.append(Text(f"stack {report.stack}: {len(report.services)} services, {checks} "
                        f"checks healthy ({report.seconds:.2f} s)", style="green"))
    else:
        bad = report.unhealthy()
        out.append(Text(f"stack {report.stack}: {len(bad)} problem(s) "
                        f"({report.seconds:.2f} s):\n  " + "\n  ".join(bad), style="red"))
    return out
