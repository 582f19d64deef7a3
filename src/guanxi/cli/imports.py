"""``guanxi import``: load customers and purchases from CSV or XLSX files."""

import typer

app = typer.Typer(help="Import customers or purchases from CSV/XLSX files.", no_args_is_help=True)
