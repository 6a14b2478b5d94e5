"""The built-in dashboard: one page, its script and styles, and Plotly, all served locally.

The page is a client of ``/graphql`` like any other; nothing here computes a
number. Plotly comes from the installed plotly package, so the dashboard works
without internet access.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static" / "dashboard"


class _RevalidatedStaticFiles(StaticFiles):
    """Static files a browser may keep but must revalidate (a cheap 304), so an
    upgrade of salescope or plotly is picked up on the next load."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def plotly_bundle() -> Path:
    """The ``plotly.min.js`` that the installed plotly package ships."""
    path = Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))
    if not path.is_file():
        raise RuntimeError(f"the plotly package has no bundled plotly.min.js (looked at {path})")
    return path


def dashboard_routes() -> list[Route | Mount]:
    """``GET /dashboard``, its assets under ``/static/dashboard/`` and ``/static/plotly.min.js``."""
    bundle = plotly_bundle()
    plotly_files = _RevalidatedStaticFiles(directory=bundle.parent)

    async def page(_request: Request) -> Response:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def plotly_js(request: Request) -> Response:
        return plotly_files.file_response(str(bundle), bundle.stat(), request.scope)

    return [
        Route("/dashboard", page, methods=["GET"]),
        Route("/static/plotly.min.js", plotly_js, methods=["GET"]),
        Mount(
            "/static/dashboard",
            app=_RevalidatedStaticFiles(directory=STATIC_DIR),
            name="dashboard-static",
        ),
    ]
