"""``guanxi export``: files of the shop's data for spreadsheets (customers, as CSV or Excel).

The terminal acts for the shop owner (every store; audited without a staff member). Text
cells never run as spreadsheet formulas (see docs/exports.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guanxi.cli.common import console, err_console, state
from guanxi.errors import GuanxiError
from guanxi.services import customer_export
from guanxi.services.customer_export import ExportFilter

app = typer.Typer(help="Export the shop's data as CSV or Excel files (audited).",
                  no_args_is_help=True)  # fmt: skip


def _fail(error: GuanxiError) -> typer.Exit:
    err_console.print(f"[red]{error}[/red]", highlight=False)
    return typer.Exit(1)


@app.command("customers")
def customers_command(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="The file to write: FILE.csv or FILE.xlsx.")
    ],
    segment: Annotated[
        str | None, typer.Option("--segment", help="Only the members of this saved segment.")
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Only the customers of this store (its code).")
    ] = None,
    mask_phones: Annotated[
        bool, typer.Option("--mask-phones", help="Write phones masked (138****5678).")
    ] = False,
) -> None:
    """Write the customer list (name, phone, store, tier, points, last purchase, consents,
    tags) to a CSV (UTF-8 with BOM) or Excel file; erased customers are left out.

    Example: guanxi export customers 会员.xlsx --segment 沉睡客户 --store A
    """
    st = state(ctx)
    db = st.database()
    try:
        if path.exists():  # never overwrite a file
            raise GuanxiError(f"{path} exists already: choose another file name")
        customer_export.format_of(path.name)
        filters = ExportFilter(
            segment_id=customer_export.find_segment_id(db, segment) if segment else None,
            store_id=customer_export.find_store_id(db, store) if store else None,
        )
        result = customer_export.export_customers(db, path, actor=None, filters=filters,
                                                  mask_phones=mask_phones,
                                                  timezone=st.settings.timezone)  # fmt: skip
    except GuanxiError as error:
        raise _fail(error) from error
    console.print(f"{result.rows:,} customers written to {path}.", highlight=False)
