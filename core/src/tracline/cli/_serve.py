"""`tracline serve`: the team server (HTTP API, review web page, lineage ingest)."""

from __future__ import annotations

import sys

import click

from tracline.cli._app import app
from tracline.cli._output import json_option, line, print_json
from tracline.config import load_config


@app.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (loopback by default; put TLS in front for others).")
@click.option("--port", default=5050, show_default=True, type=int,
              help="Port to bind (0: any free port).")
@click.option("--registry-url", default=None, help="Registry database (default: the config's).")
@click.option("--store-url", default=None,
              help="Request and token store (default: [requests] url, else the registry).")
@click.option("--tls-cert", default=None, help="Serve HTTPS with this certificate (PEM).")
@click.option("--tls-key", default=None, help="The certificate's private key (PEM).")
@json_option
def serve(*, host: str, port: int, registry_url: str | None, store_url: str | None,
          tls_cert: str | None, tls_key: str | None, as_json: bool) -> None:
    """Run the team server: requests, approvals, lineage.

    It serves requests and approvals, audit, spend, lineage and the review page.

    Every route but /api/v1/health needs a token: tracline admin token create. With --json,
    the address is printed as one JSON object once it accepts connections (messages go to
    standard error).
    """
    from tracline.server import serve as run_server

    def listening(url: str) -> None:
        if as_json:
            print_json({"url": url, "lineage_endpoint": f"{url}/api/v1/lineage"})
            sys.stdout.flush()

    run_server(load_config(), host=host, port=port, store_url=store_url,
               registry_url=registry_url, certfile=tls_cert, keyfile=tls_key,
               say=lambda text: line(text, stderr=as_json), listening=listening)
