"""``guanxi import``: load customers and purchases from CSV or XLSX files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from guanxi.cli.common import console, err_console, state
from guanxi.importers.headers import parse_overrides
from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions, ImportReport
from guanxi.services.purchase_import import import_purchases
from guanxi.storage.db import Database

app = typer.Typer(help="Import customers or purchases from CSV/XLSX files.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="CSV (UTF-8, BOM, GBK/GB18030) or XLSX/XLS file.")]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Force the CSV encoding, e.g. gbk, utf-8.")
]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help="Sheet name in a workbook.")]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="COLUMN=FIELD to map a column by hand; COLUMN=- ignores it."),
]
SkipOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad-rows",
        help="Import the good rows and write the bad ones to FILE.rejects.csv beside the input.",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Check the file and show what would change; change nothing."),
]
MAX_SHOWN = 50


def _run(ctx: typer.Context, importer: object, path: Path, options: ImportOptions) -> None:
    database: Database = state(ctx).database()
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(f"Importing {path.name}", total=None, rate="-")

        def progress(done: int, expected: int | None) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=done, total=expected, rate=f"{speed:,.0f}" if speed else "-")

        options.progress = progress
        assert callable(importer)
        report: ImportReport = importer(database, path, options)
    _print_report(report, dry_run=options.dry_run)
    if not report.committed and (report.rejected or not options.dry_run):
        raise typer.Exit(1)


def _options(
    ctx: typer.Context,
    encoding: str | None,
    sheet: str | None,
    mapping: list[str] | None,
    skip: bool,
    dry_run: bool,
) -> ImportOptions:
    return ImportOptions(
        encoding=encoding,
        sheet=sheet,
        mapping=parse_overrides(mapping or []),
        skip_bad_rows=skip,
        dry_run=dry_run,
        timezone=state(ctx).settings.timezone,
        erasure_secret=state(ctx).settings.erasure_secret,
    )


def _print_report(report: ImportReport, *, dry_run: bool = False) -> None:
    if report.errors:
        table = Table("line", "column", "value", "reason", title="Rejected rows")
        for e in report.errors[:MAX_SHOWN]:
            table.add_row(str(e.line), e.column, e.value[:40], e.reason)
        console.print(table)
        if report.rejected > MAX_SHOWN:
            console.print(f"… and more: {report.rejected} rows rejected in all.")
    for warning in report.warnings[:MAX_SHOWN]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    summary = (
        f"{report.rows:,} rows in {report.seconds:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s): inserted {report.inserted:,}, "
        f"updated {report.updated:,}, unchanged {report.unchanged:,}, "
        f"rejected {report.rejected:,}"
    )
    created = ", ".join(f"{n:,} {what}" for what, n in report.created.items() if n)
    if dry_run:
        console.print(f"[yellow]Dry run[/yellow] of {report.path.name}, nothing changed: {summary}",
                      highlight=False)  # fmt: skip
    elif report.committed:
        console.print(f"[green]Imported[/green] {report.path.name}: {summary}", highlight=False)
        if created:
            console.print(f"Created: {created}")
        if report.reject_file:
            console.print(f"Rejected rows written to {report.reject_file}")
    else:
        err_console.print(
            f"[red]Nothing imported[/red] from {report.path.name}: {summary}. Fix the rows "
            "above and import again, or use --skip-bad-rows to import the good rows.",
            highlight=False,
        )


@app.command("customers")
def customers_command(
    ctx: typer.Context,
    path: FileArg,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    skip_bad_rows: SkipOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Import or update customers; matched by member code, then phone, then email.

    Example: guanxi import customers 会员.xlsx --map 备用电话=-
    """
    _run(
        ctx, import_customers, path, _options(ctx, encoding, sheet, mapping, skip_bad_rows, dry_run)
    )


@app.command("purchases")
def purchases_command(
    ctx: typer.Context,
    path: FileArg,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    skip_bad_rows: SkipOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Import purchase lines (one row per line); re-importing the same orders changes nothing.

    Example: guanxi import purchases 销售明细.csv --encoding gbk --skip-bad-rows
    """
    _run(
        ctx, import_purchases, path, _options(ctx, encoding, sheet, mapping, skip_bad_rows, dry_run)
    )
