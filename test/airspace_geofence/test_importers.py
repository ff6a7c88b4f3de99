"""Importers: every real zone loads with the right volumes and schedules; malformed input
gives a ZoneError naming file, zone and field; invalid geometry is repaired and reported."""
import datetime as dt
import json
import math

import pytest
import shapely

from skyroad.airspace_geofence.importers import (FORMAT_ED269, FORMAT_ED318, FORMAT_GEOJSON,
                                                 FORMAT_QGC_PLAN, load_zone_file, load_zone_text)
from skyroad.airspace_geofence.model import FEET_TO_M, Restriction, Unit, VerticalRef, ZoneError

UTC = dt.timezone.utc


def by_id(zones, identifier, restriction=None):
    found = [z for z in zones if z.identifier == identifier
             and (restriction is None or z.restriction is restriction)]
    assert len(found) == 1, f"{identifier}: {len(found)} matches"
    return found[0]


def test_ed269_features_wrapper_all_zones(geozones_dir):
    result = load_zone_file(geozones_dir / "che-geo-awareness-1.ed269.json")
    assert result.format == FORMAT_ED269
    assert len(result.zones) == 6
    montreux = by_id(result.zones, "Montreux Concert Area")
    assert montreux.restriction is Restriction.PROHIBITED
    (volume,) = montreux.volumes
    assert volume.is_circle and volume.horizontal.radius_m == 3000.0
    assert (volume.horizontal.lon, volume.horizontal.lat) == (6.913146, 46.430758)
    assert (volume.lower.value_m, volume.lower.ref) == (0.0, VerticalRef.AGL)
    assert (volume.upper.value_m, volume.upper.ref) == (6259.0, VerticalRef.AMSL)
    # schedule: weekends 17:00-23:59:59 UTC between 2022-06-15 09:00 and 2023-06-15 09:00
    assert montreux.time_limited
    assert montreux.active(dt.datetime(2022, 7, 2, 18, 0, tzinfo=UTC))        # Saturday evening
    assert montreux.active(dt.datetime(2022, 7, 3, 23, 59, 58, tzinfo=UTC))   # Sunday late
    assert not montreux.active(dt.datetime(2022, 7, 2, 16, 59, tzinfo=UTC))   # Saturday afternoon
    assert not montreux.active(dt.datetime(2022, 7, 1, 18, 0, tzinfo=UTC))    # Friday
    assert not montreux.active(dt.datetime(2023, 7, 1, 18, 0, tzinfo=UTC))    # after the window
    assert not montreux.active(dt.datetime(2022, 6, 11, 18, 0, tzinfo=UTC))   # before the window

    reichenbach = by_id(result.zones, "Flugplatz Reichenbach")
    assert [v.horizontal.radius_m for v in reichenbach.volumes] == [1000, 2500, 3500]
    assert [(v.lower.value_m, v.upper.value_m) for v in reichenbach.volumes] == [(0, 120), (50, 120), (100, 120)]
    assert all(v.lower.ref is VerticalRef.AGL and v.upper.ref is VerticalRef.AGL for v in reichenbach.volumes)
    assert not reichenbach.active(dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert reichenbach.active(dt.datetime(2023, 1, 2, 3, 0, tzinfo=UTC))       # no schedule: all day

    lausanne = by_id(result.zones, "Lausanne Airport")
    assert [v.lower.value_m for v in lausanne.volumes] == [0, 30, 60]
    assert not lausanne.time_limited and lausanne.active(dt.datetime(2030, 1, 1, tzinfo=UTC))
    # the degenerate polygons (first vertex repeated) are repaired and reported, not dropped
    assert len(lausanne.repairs) == 2
    assert all("repeated" in r for r in lausanne.repairs)
    assert lausanne.volumes[0].repairs == ()
    for volume in lausanne.volumes[1:]:
        assert volume.repairs and volume.horizontal.is_valid
        assert len(volume.horizontal.exterior.coords) == 4  # triangle: 3 distinct + closing
    assert {r.split(":")[0] for r in result.repairs} == {"zone 'Lausanne Airport'"}

    gantrisch = [z for z in result.zones if z.identifier == "Gantrisch Nature Park"]
    assert sorted(z.restriction.value for z in gantrisch) == ["NO_RESTRICTION", "REQ_AUTHORISATION"]
    for zone in gantrisch:
        (volume,) = zone.volumes
        assert volume.upper.unit is Unit.FT and volume.upper.value == 250
        assert math.isclose(volume.upper.value_m, 250 * FEET_TO_M)
    wildlife = by_id(result.zones, "MONTREUX Wildlife Preserve")
    assert wildlife.restriction is Restriction.REQ_AUTHORISATION
    assert wildlife.constraining() and not wildlife.constraining(frozenset({"MONTREUX Wildlife Preserve"}))


def test_ed269_uaszonelist_wrapper(geozones_dir):
    result = load_zone_file(geozones_dir / "che-sample.ed269.json")
    assert result.format == FORMAT_ED269
    (zone,) = result.zones
    assert zone.identifier == "LSXX" and zone.restriction is Restriction.REQ_AUTHORISATION
    (volume,) = zone.volumes
    assert volume.lower.value_m == 0.0 and math.isinf(volume.upper.value_m)   # "0" string, null upper
    # placeholder dailyPeriod (no days, null times) is no schedule: permanent
    assert not zone.time_limited
    assert volume.horizontal.is_valid and len(volume.horizontal.exterior.coords) == 5


def test_ed318_all_zones(geozones_dir):
    result = load_zone_file(geozones_dir / "che-sample.ed318.json")
    assert result.format == FORMAT_ED318
    assert [z.identifier for z in result.zones] == ["LSZB003", "BLns058", "LSTB002"]
    for zone in result.zones:
        assert zone.restriction is Restriction.REQ_AUTHORISATION    # REQ_AUTHORIZATION spelling
        (volume,) = zone.volumes
        assert volume.upper.value_m == 99999 and volume.upper.ref is VerticalRef.AGL
        assert not zone.time_limited and not zone.repairs
    assert result.zones[0].volumes[0].lower.value_m == 60
    assert result.zones[0].name == "LSZB Bern-Belp 2"
    assert len(result.zones[0].volumes[0].horizontal.exterior.coords) == 28


def test_format_detected_from_content_not_name(tmp_path, geozones_dir):
    text = (geozones_dir / "che-sample.ed318.json").read_text()
    misnamed = tmp_path / "zones.plan"
    misnamed.write_text(text)
    assert load_zone_file(misnamed).format == FORMAT_ED318


SQUARE = [[7.0, 46.0], [7.01, 46.0], [7.01, 46.01], [7.0, 46.01], [7.0, 46.0]]


def ed269(**overrides):
    zone = {"identifier": "Z1", "restriction": "PROHIBITED",
            "applicability": [{"permanent": "YES"}],
            "geometry": [{"uomDimensions": "M", "lowerLimit": 0, "lowerVerticalReference": "AGL",
                          "upperLimit": 120, "upperVerticalReference": "AGL",
                          "horizontalProjection": {"type": "Polygon", "coordinates": [SQUARE]}}]}
    for key, value in overrides.items():
        target = zone["geometry"][0] if key in zone["geometry"][0] or key == "horizontalProjection" else zone
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    return json.dumps({"UASZoneList": [zone]})


@pytest.mark.parametrize("text, field, fragment", [
    (ed269(restriction="FORBIDDEN"), "restriction", "unknown restriction"),
    (ed269(restriction=None), "restriction", "missing"),
    (ed269(uomDimensions="YARD"), "geometry[0].uomDimensions", "unknown unit"),
    (ed269(lowerVerticalReference="QNH"), "geometry[0].lowerVerticalReference", "unknown vertical reference"),
    (ed269(lowerLimit=None), "geometry[0].lowerLimit", "missing"),
    (ed269(upperVerticalReference=None), "geometry[0].upperVerticalReference", "missing"),
    (ed269(horizontalProjection={"type": "Polygon", "coordinates": []}),
     "geometry[0].horizontalProjection.coordinates", "empty polygon"),
    (ed269(horizontalProjection={"type": "Polygon", "coordinates": [[]]}),
     "geometry[0].horizontalProjection.coordinates[0]", "empty ring"),
    (ed269(horizontalProjection={"type": "Polygon", "coordinates": [[[7, 46], [7.1, 46], [7, 46]]]}),
     "geometry[0].horizontalProjection.coordinates[0]", "degenerate ring"),
    (ed269(horizontalProjection={"type": "Polygon",
                                 "coordinates": [[[7, 46], [7.1, 46], [7.2, 46], [7, 46]]]}),
     "geometry[0].horizontalProjection.coordinates", "no area"),
    (ed269(horizontalProjection={"type": "Circle", "center": [7, 46], "radius": -5}),
     "geometry[0].horizontalProjection.radius", "must be > 0"),
    (ed269(horizontalProjection={"type": "Ellipse"}), "geometry[0].horizontalProjection.type", "unknown"),
    (ed269(upperLimit=-10), "geometry[0].upperLimit", "not above"),
    (ed269(applicability=[{"permanent": "NO", "schedule": [{"day": ["FUNDAY"], "startTime": "10:00"}]}]),
     "applicability[0].schedule[0].day", "unknown day"),
    (ed269(applicability=[{"permanent": "NO", "startDateTime": "yesterday"}]),
     "applicability[0].startDateTime", "invalid ISO 8601"),
    (ed269(geometry=[]), "geometry", "empty"),
])
def test_malformed_ed269_names_zone_and_field(text, field, fragment):
    with pytest.raises(ZoneError) as info:
        load_zone_text(text, source="bad.json")
    error = info.value
    assert error.zone == "Z1" and error.field == field and error.source == "bad.json"
    assert fragment in str(error)
    assert "zone 'Z1'" in str(error) and f"field '{field}'" in str(error)


def test_nan_coordinates_name_zone_and_field():
    for literal in ("NaN", "Infinity", "-Infinity"):
        text = ed269().replace("[7.01, 46.0]", f"[7.01, {literal}]")
        with pytest.raises(ZoneError, match="non-finite"):
            load_zone_text(text, source="nan.json")
    # NaN written as a string is caught per field, with the zone named
    text = ed269().replace("[7.01, 46.0]", '[7.01, "nan"]')
    with pytest.raises(ZoneError) as info:
        load_zone_text(text, source="nan.json")
    assert info.value.zone == "Z1"
    assert info.value.field == "geometry[0].horizontalProjection.coordinates[0][1][1]"
    assert "not finite" in str(info.value)


def test_bad_json_and_unknown_format():
    with pytest.raises(ZoneError, match=r"bad\.json: invalid JSON: .* line 1 column"):
        load_zone_text('{"UASZoneList": [', source="bad.json")
    with pytest.raises(ZoneError, match="not a recognised zone format"):
        load_zone_text('{"hello": 1}', source="x.json")
    with pytest.raises(ZoneError, match="empty"):
        load_zone_text("  ", source="x.json")
    with pytest.raises(ZoneError, match="cannot read file"):
        load_zone_file("/nonexistent/zones.json")


def test_out_of_range_coordinate_names_index():
    text = ed269(horizontalProjection={"type": "Polygon", "coordinates": [[[7, 46], [200, 46], [7, 47], [7, 46]]]})
    with pytest.raises(ZoneError) as info:
        load_zone_text(text)
    assert info.value.field.endswith("coordinates[0][1][0]") and "longitude 200" in str(info.value)


def test_self_intersecting_polygon_repaired_with_make_valid():
    bowtie = [[7.0, 46.0], [7.01, 46.01], [7.01, 46.0], [7.0, 46.01], [7.0, 46.0]]
    text = ed269(horizontalProjection={"type": "Polygon", "coordinates": [bowtie]})
    (zone,) = load_zone_text(text).zones
    (volume,) = zone.volumes
    assert volume.horizontal.is_valid
    assert len(shapely.get_parts(volume.horizontal)) == 2
    assert math.isclose(volume.horizontal.area, 0.5 * 0.01 * 0.01, rel_tol=1e-9)
    assert any("Self-intersection" in r and "make_valid" in r for r in zone.repairs)


def test_unclosed_ring_closed_and_reported():
    text = ed269(horizontalProjection={"type": "Polygon", "coordinates": [SQUARE[:-1]]})
    (zone,) = load_zone_text(text).zones
    assert zone.volumes[0].horizontal.is_valid and "not closed" in zone.repairs[0]


def test_ed318_circle_collection_and_schedule():
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "geometry": {"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [7.0, 46.0], "extent": {"subType": "Circle", "radius": 500},
             "layer": {"lower": 0, "lowerReference": "AGL", "upper": 400, "upperReference": "AGL", "uom": "ft"}},
            {"type": "Polygon", "coordinates": [SQUARE],
             "layer": {"lower": 1000, "lowerReference": "AMSL", "upper": 1200, "upperReference": "WGS84", "uom": "m"}}]},
        "properties": {"identifier": "E1", "country": "CHE", "type": "CONDITIONAL", "variant": "COMMON",
                       "limitedApplicability": [{"startDateTime": "2026-01-01T00:00:00Z",
                                                 "schedule": [{"day": ["MON", "TUE"], "startTime": "22:00",
                                                               "endTime": "06:00"}]}]}}]}
    result = load_zone_text(json.dumps(doc))
    assert result.format == FORMAT_ED318
    (zone,) = result.zones
    assert zone.restriction is Restriction.CONDITIONAL
    circle, polygon = zone.volumes
    assert circle.is_circle and circle.horizontal.radius_m == 500
    assert math.isclose(circle.upper.value_m, 400 * FEET_TO_M)
    assert polygon.upper.ref is VerticalRef.WGS84 and polygon.lower.ref is VerticalRef.AMSL
    # 22:00-06:00 on Mon/Tue wraps midnight: Tuesday 05:00 and Wednesday 05:00 active
    assert zone.active(dt.datetime(2026, 3, 3, 5, 0, tzinfo=UTC))     # Tuesday early (from Monday)
    assert zone.active(dt.datetime(2026, 3, 4, 5, 0, tzinfo=UTC))     # Wednesday early (from Tuesday)
    assert not zone.active(dt.datetime(2026, 3, 4, 23, 0, tzinfo=UTC))  # Wednesday late
    assert not zone.active(dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC))   # Monday early (Sunday not listed)
    assert not zone.active(dt.datetime(2025, 12, 30, 23, 0, tzinfo=UTC))  # before start


def test_ed318_missing_layer_names_field():
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE],
                                        "layer": {"lower": 0, "lowerReference": "AGL", "upper": 120}},
        "properties": {"identifier": "E2", "type": "PROHIBITED", "variant": "COMMON"}}]}
    with pytest.raises(ZoneError) as info:
        load_zone_text(json.dumps(doc))
    assert info.value.zone == "E2" and info.value.field == "geometry.layer.upperReference"


def test_plain_geojson_defaults_and_keep_in():
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "no-fly"}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
        {"type": "Feature", "properties": {"id": "field", "keep_in": True, "upper": 150},
         "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE]]}},
        {"type": "Feature", "properties": {"id": "mast", "radius": 80, "restriction": "REQ_AUTHORIZATION"},
         "geometry": {"type": "Point", "coordinates": [7.0, 46.0]}}]}
    result = load_zone_text(json.dumps(doc))
    assert result.format == FORMAT_GEOJSON
    nofly, field, mast = result.zones
    assert nofly.identifier == "no-fly" and nofly.restriction is Restriction.PROHIBITED
    assert math.isinf(nofly.volumes[0].upper.value_m)
    assert field.keep_in and field.volumes[0].upper.value_m == 150
    assert mast.volumes[0].is_circle and mast.restriction is Restriction.REQ_AUTHORISATION


def test_qgc_plan_fence():
    plan = {"fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
            "geoFence": {"version": 2, "circles": [{"inclusion": False, "version": 1,
                                                    "circle": {"center": [46.0, 7.0], "radius": 120}}],
                         "polygons": [{"inclusion": True, "version": 1,
                                       "polygon": [[46.0, 7.0], [46.0, 7.02], [46.02, 7.02], [46.02, 7.0]]}]},
            "mission": {"items": []}, "rallyPoints": {"points": []}}
    result = load_zone_text(json.dumps(plan), source="mission.plan")
    assert result.format == FORMAT_QGC_PLAN
    keep_in, keep_out = result.zones
    assert keep_in.keep_in and keep_in.volumes[0].horizontal.bounds == (7.0, 46.0, 7.02, 46.02)
    assert not keep_out.keep_in and keep_out.volumes[0].horizontal.radius_m == 120
    assert keep_out.volumes[0].horizontal.lat == 46.0 and keep_out.volumes[0].horizontal.lon == 7.0
    assert not keep_in.repairs   # QGC never closes rings: closing is not a repair
    bad = json.loads(json.dumps(plan))
    bad["geoFence"]["circles"][0]["inclusion"] = "yes"
    with pytest.raises(ZoneError) as info:
        load_zone_text(json.dumps(bad), source="mission.plan")
    assert info.value.zone == "circle-0" and info.value.field == "geoFence.circles[0].inclusion"


def test_national_scale_file_thousands_of_zones_hundreds_of_thousands_of_vertices(tmp_path):
    import numpy as np

    from skyroad.airspace_geofence.index import load_zone_files
    rng = np.random.default_rng(5)
    zones = []
    for i in range(3000):
        lon0, lat0 = rng.uniform(6.0, 10.5), rng.uniform(45.8, 47.8)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 100))
        r = rng.uniform(0.002, 0.02) * rng.uniform(0.6, 1.0, 100)
        ring = np.column_stack([lon0 + r * np.cos(ang), lat0 + r * np.sin(ang)])
        ring = np.vstack([ring, ring[:1]]).round(7).tolist()
        zones.append({"identifier": f"N{i:04d}", "restriction": "PROHIBITED" if i % 3 else "REQ_AUTHORISATION",
                      "applicability": [{"permanent": "YES"}],
                      "geometry": [{"uomDimensions": "FT", "lowerLimit": 0, "lowerVerticalReference": "AGL",
                                    "upperLimit": 400, "upperVerticalReference": "AGL",
                                    "horizontalProjection": {"type": "Polygon", "coordinates": [ring]}}]})
    path = tmp_path / "national.json"
    path.write_text(json.dumps({"UASZoneList": zones}))
    zone_set = load_zone_files([path])
    assert len(zone_set) == 3000 and zone_set.n_vertices >= 300_000
    # a vertex of zone N0007 nudged 1 m inward is inside it; the frame is centred on the data
    ring = np.array(zones[7]["geometry"][0]["horizontalProjection"]["coordinates"][0])
    centre = ring[:-1].mean(axis=0)
    inner = ring[0] + (centre - ring[0]) * 1e-3
    xy = zone_set.frame.to_local(np.array([inner[0]]), np.array([inner[1]]), np.array([50.0]))
    assert "N0007" in zone_set.zones_containing(xy[0])
