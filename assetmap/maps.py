"""folium maps for notebooks: services as points, areas as a choropleth of a gap measure."""

from __future__ import annotations

import folium
import geopandas as gpd


def services_map(services: gpd.GeoDataFrame, tiles: str | None = "OpenStreetMap") -> folium.Map:
    placed = services[services.geometry.notna()]
    centre = [placed.geometry.y.mean(), placed.geometry.x.mean()] if len(placed) else [55.86, -4.25]
    result = folium.Map(location=centre, zoom_start=11, tiles=tiles)
    for row in placed.itertuples():
        folium.CircleMarker([row.geometry.y, row.geometry.x], radius=4, weight=1,
                            color="#555" if row.stale else "#1a9850", fill=True,
                            tooltip=folium.Tooltip(str(row.name), parse_html=False)).add_to(result)
    return result


def gaps_map(gaps: gpd.GeoDataFrame, column: str = "nearest_walk_minutes",
             tiles: str | None = "OpenStreetMap") -> folium.Map:
    bounds = gaps.total_bounds
    result = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=11,
                        tiles=tiles)
    folium.Choropleth(geo_data=gaps[["area_code", "geometry"]].to_json(), data=gaps, columns=["area_code", column],
                      key_on="feature.properties.area_code", fill_color="YlOrRd", fill_opacity=0.7,
                      line_weight=0.3, legend_name=column.replace("_", " ")).add_to(result)
    flagged = gaps[gaps["gap"]]
    if len(flagged):
        folium.GeoJson(flagged[["area_code", "reason", "geometry"]].to_json(),
                       style_function=lambda _f: {"color": "#b00020", "weight": 2, "fillOpacity": 0},
                       tooltip=folium.GeoJsonTooltip(["area_code", "reason"])).add_to(result)
    return result
