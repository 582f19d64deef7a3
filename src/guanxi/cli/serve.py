"""``guanxi serve``: run the web UI and REST API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from guanxi.cli.common import console, state


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: the whole LAN).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL: several).")] = 1,
) -> None:
    """Serve the web UI and the REST API.

    Example: guanxi --db shop.db serve --host 0.0.0.0 --port 8000
    """
    import uvicorn

    st = state(ctx)
    st.database()  # migrate before the workers start
    os.environ["GUANXI_DATABASE_URL"] = st.settings.database_url
    console.print(f"Guanxi on http://{host}:{port}  (Ctrl+C to stop)")
    uvicorn.run("guanxi.web.server:create_from_environment", factory=True, host=host,
                port=port, workers=workers, log_level="warning")  # fmt: skip
