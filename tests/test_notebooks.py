"""The analysts' notebooks run top to bottom, offline, on the database the README builds for the whole
of Scotland (`assetmap load-open-data`), on both backends, through the library's public functions;
their maps load nothing from a CDN."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# A script or stylesheet fetched from another host: offline, the map it belongs to is blank.
FETCHED = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernel spec for this very Python, so the notebooks see the installed assetmap."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / "assetmap-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "assetmap tests", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(folder)
    return "assetmap-tests"


def test_there_are_the_four_notebooks() -> None:
    assert [p.stem for p in NOTEBOOKS] == ["coverage", "data_quality", "gaps", "planning"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_top_to_bottom_offline(path: Path, kernel: str, scotland_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETMAP_DATABASE_URL", scotland_url)
    monkeypatch.delenv("ASSETMAP_LOCALITY", raising=False)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name=kernel, timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len(outputs) >= 4
    pages = [html.unescape(str(o.get("data", {}).get("text/html", ""))) for o in outputs]
    maps = [p for p in pages if "L.map(" in p]
    if path.stem != "data_quality":
        assert maps, "the notebook draws a map"
    for page in maps:
        assert "Leaflet" in page, "Leaflet is inlined"
    fetched = [m.group(0) for p in pages for m in FETCHED.finditer(p)]
    assert not fetched, f"loaded from another host: {fetched[:3]}"
