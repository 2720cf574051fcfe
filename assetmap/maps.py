"""folium maps for notebooks that need no CDN: services as points, areas coloured by a gap measure.

folium's maps load Leaflet, jQuery, Bootstrap and Font Awesome from CDNs, and its Choropleth
adds d3 for the legend: offline (a practice's network, a train) they are blank. These maps
inline Leaflet from the ``xstatic-leaflet`` package (the one the web app serves) and load
nothing else: areas are plain GeoJSON layers coloured in Python, the legend is a little HTML.
Tiles are off by default for the same reason; the areas drawn give the map its shape.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element

# ColorBrewer's YlOrRd in five classes: more minutes, more red.
PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
NO_VALUE = "#cccccc"
GAP_EDGE = "#b00020"
GLASGOW = (55.86, -4.25)
# Polygons drawn are simplified to about 20 m: the notebook keeps a tenth of the bytes.
SIMPLIFY_DEGREES = 0.0002


@lru_cache(maxsize=1)
def _leaflet() -> tuple[str, str]:
    from xstatic.pkg import leaflet as package

    folder = Path(package.BASE_DIR)
    return (folder / "leaflet.js").read_text(encoding="utf-8"), (folder / "leaflet.css").read_text(encoding="utf-8")


class OfflineMap(folium.Map):
    """A folium map whose only script and style is Leaflet, inlined: it draws without a network."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    def render(self, **kwargs: Any) -> Any:
        script, style = _leaflet()
        header = self.get_root().header  # type: ignore[attr-defined]  # a Figure's header
        header.add_child(Element(f"<style>{style}</style>"), name="leaflet_css_inline")
        header.add_child(Element(f"<script>{script}</script>"), name="leaflet_js_inline")
        return super().render(**kwargs)


def _map(bounds: Any | None, tiles: str | None) -> OfflineMap:
    if bounds is not None and np.isfinite(bounds).all():
        west, south, east, north = bounds
        result = OfflineMap(location=[(south + north) / 2, (west + east) / 2], zoom_start=11, tiles=tiles)
        result.fit_bounds([[south, west], [north, east]])
        return result
    return OfflineMap(location=list(GLASGOW), zoom_start=11, tiles=tiles)


def _outline(result: folium.Map, areas: gpd.GeoDataFrame) -> None:
    polygons = areas[areas.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polygons):
        shapes = polygons[["geometry"]].copy()
        shapes["geometry"] = shapes.geometry.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
        folium.GeoJson(shapes.to_json(), name="areas", style_function=lambda _f: {
            "color": "#888", "weight": 0.5, "fillColor": "#f4f4f4", "fillOpacity": 0.5}).add_to(result)


def services_map(services: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None = None,
                 tiles: str | None = None) -> folium.Map:
    """Services as points (green: verified in the last 12 months, grey: stale), over the areas' outlines."""
    placed = services[services.geometry.notna()]
    bounds = areas.total_bounds if areas is not None and len(areas) else (
        placed.total_bounds if len(placed) else None)
    result = _map(bounds, tiles)
    if areas is not None:
        _outline(result, areas)
    for row in placed.itertuples():
        folium.CircleMarker([row.geometry.y, row.geometry.x], radius=4, weight=1,
                            color="#555" if row.stale else "#1a9850", fill=True,
                            tooltip=folium.Tooltip(str(row.name), parse_html=False)).add_to(result)
    _legend(result, "Services", [("#1a9850", "verified in the last 12 months"), ("#555", "not verified for 12 months")])
    return result


def classes(values: Any, count: int = len(PALETTE)) -> list[float]:
    """Class edges at quantiles of the values (no two equal), for a legend that reads."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(finite):
        return []
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, count + 1)))
    return [float(e) for e in edges]


def colour(value: float | None, edges: list[float]) -> str:
    if value is None or not math.isfinite(value) or len(edges) < 2:
        return NO_VALUE
    band = int(np.searchsorted(edges[1:-1], value, side="right"))
    return PALETTE[min(band, len(PALETTE) - 1)]


def gaps_map(gaps: gpd.GeoDataFrame, column: str = "nearest_walk_minutes", tiles: str | None = None,
             services: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Areas coloured by ``column`` in five quantile classes, gaps edged in red, services as points."""
    result = _map(gaps.total_bounds if len(gaps) else None, tiles)
    edges = classes(gaps[column].tolist())
    shapes = gaps[["area_code", "area_name", column, "gap", "reason", "geometry"]].copy()
    shapes["geometry"] = shapes.geometry.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
    shapes["fill"] = [colour(v, edges) for v in shapes[column]]
    shapes["reason"] = shapes["reason"].fillna("")

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        properties = feature["properties"]
        flagged = bool(properties.get("gap"))
        return {"fillColor": properties["fill"], "fillOpacity": 0.75, "color": GAP_EDGE if flagged else "#666",
                "weight": 2 if flagged else 0.3}
    folium.GeoJson(shapes.to_json(), name=column.replace("_", " "), style_function=style,
                   tooltip=folium.GeoJsonTooltip(["area_name", column, "reason"],
                                                 aliases=["Area", column.replace("_", " "), "Gap"])).add_to(result)
    if services is not None:
        for row in services[services.geometry.notna()].itertuples():
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=3, weight=1, color="#1f4e99",
                                fill=True, tooltip=folium.Tooltip(str(row.name), parse_html=False)).add_to(result)
    rows = [(PALETTE[i], f"{edges[i]:.0f} to {edges[i + 1]:.0f}") for i in range(len(edges) - 1)]
    _legend(result, column.replace("_", " "), rows + [(NO_VALUE, "no value")], edge=("gap", GAP_EDGE))
    return result


def sites_map(sites: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None = None, tiles: str | None = None,
              label: str = "label", services: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Proposed sites, numbered in the order a plan adds them, over the areas' outlines and today's services."""
    bounds = areas.total_bounds if areas is not None and len(areas) else (sites.total_bounds if len(sites) else None)
    result = _map(bounds, tiles)
    if areas is not None:
        _outline(result, areas)
    if services is not None:
        for row in services[services.geometry.notna()].itertuples():
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=3, weight=1, color="#1f4e99", fill=True,
                                tooltip=folium.Tooltip(str(row.name), parse_html=False)).add_to(result)
    for number, row in enumerate(sites.itertuples(), start=1):
        folium.Marker([row.geometry.y, row.geometry.x], tooltip=folium.Tooltip(
            f"{number}. {getattr(row, label)}", parse_html=False), icon=folium.DivIcon(
            html=f'<div style="width:22px;height:22px;border-radius:11px;background:{GAP_EDGE};color:#fff;'
                 f'font:bold 12px/22px sans-serif;text-align:center;border:1px solid #fff">{number}</div>',
            icon_size=(22, 22), icon_anchor=(11, 11))).add_to(result)
    rows = [(GAP_EDGE, "a new site, numbered in the order the plan adds it")]
    _legend(result, "Proposed sites", rows + ([("#1f4e99", "services meeting the need today")] if services is not None else []))
    return result


def _legend(result: folium.Map, title: str, rows: list[tuple[str, str]], edge: tuple[str, str] | None = None) -> None:
    """A small HTML legend in the map's corner (folium's needs d3 and jQuery from CDNs)."""
    from html import escape

    items = "".join(f'<div><span style="display:inline-block;width:14px;height:10px;background:{c};'
                    f'border:1px solid #666;margin-right:4px"></span>{escape(text)}</div>' for c, text in rows)
    if edge:
        items += (f'<div><span style="display:inline-block;width:14px;height:10px;border:2px solid {edge[1]};'
                  f'margin-right:4px"></span>{escape(edge[0])}</div>')
    result.get_root().html.add_child(Element(  # type: ignore[attr-defined]  # a Figure's html
        f'<div style="position:absolute;bottom:18px;left:10px;z-index:1000;background:#fff;padding:6px 8px;'
        f'border:1px solid #999;border-radius:4px;font:12px sans-serif"><strong>{escape(title)}</strong>{items}</div>'))


__all__ = ["OfflineMap", "classes", "colour", "gaps_map", "services_map", "sites_map"]
