"""``guanxi customers`` and ``guanxi customer``: find and show customers."""

import typer

app = typer.Typer(help="Find customers.", no_args_is_help=True)
customer_app = typer.Typer(help="Show one customer.", no_args_is_help=True)
