"""WGS84 <-> local metric frame (core: no rclpy), with pyproj.

The geofence works in a *local projected frame*: x east, y north from an azimuthal
equidistant (AEQD) projection of the WGS84 ellipsoid centred on an origin, and z = height
above the origin's altitude (AMSL). Why AEQD: geodesic distances *from the origin* are exact,
and the scale error grows only with the square of the distance from it: the scale factor
perpendicular to a radius is (c / sin c) with c = d / R, i.e. a relative error ~ d^2 / (6 R^2):
  10 km -> 4e-7 (0.4 mm per 1 km of separation), 100 km -> 4e-5, 300 km -> 3.7e-4.
Distances that matter to the geofence (vehicle to a nearby boundary, tens to thousands of
metres) are therefore accurate to millimetres within 100 km of the origin. The CLI centres the
frame on the query point, which makes its distances exact geodesic distances.

A true tangent-plane ENU (ECEF-based, curvature included) differs from this frame by the
Earth's curvature drop (d^2 / 2R: 7.8 m of z at 10 km); `LocalFrame.enu_from_geodetic` gives it
(through pyproj's `topocentric` conversion) for navigation code that needs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer

EARTH_MEAN_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class LocalFrame:
    """Local frame centred on (origin_lat_deg, origin_lon_deg, origin_alt_amsl_m)."""
    origin_lat_deg: float
    origin_lon_deg: float
    origin_alt_amsl_m: float = 0.0

    def __post_init__(self):
        if not (math.isfinite(self.origin_lat_deg) and -90.0 < self.origin_lat_deg < 90.0):
            raise ValueError(f"origin latitude {self.origin_lat_deg} must be finite and in (-90, 90) deg")
        if not (math.isfinite(self.origin_lon_deg) and -180.0 <= self.origin_lon_deg <= 180.0):
            raise ValueError(f"origin longitude {self.origin_lon_deg} must be finite and in [-180, 180] deg")
        if not math.isfinite(self.origin_alt_amsl_m):
            raise ValueError(f"origin altitude {self.origin_alt_amsl_m} must be finite")
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={self.origin_lat_deg!r} +lon_0={self.origin_lon_deg!r} "
                             "+x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs")
        object.__setattr__(self, "_forward", Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        object.__setattr__(self, "_inverse", Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    @classmethod
    def centred_on(cls, lon_deg: np.ndarray, lat_deg: np.ndarray, alt_amsl_m: float = 0.0) -> "LocalFrame":
        """Frame centred on the middle of the bounding box of the given coordinates."""
        lon = np.asarray(lon_deg, float)
        lat = np.asarray(lat_deg, float)
        if lon.size == 0:
            raise ValueError("cannot centre a frame on no coordinates")
        return cls(float(0.5 * (lat.min() + lat.max())), float(0.5 * (lon.min() + lon.max())), alt_amsl_m)

    def to_local_xy(self, lon_deg, lat_deg):
        """lon/lat degrees (arrays) -> x east, y north metres."""
        x, y = self._forward.transform(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
        return np.asarray(x), np.asarray(y)

    def to_geodetic_xy(self, x_m, y_m):
        lon, lat = self._inverse.transform(np.asarray(x_m, float), np.asarray(y_m, float))
        return np.asarray(lon), np.asarray(lat)

    def to_local(self, lon_deg, lat_deg, alt_amsl_m):
        """-> (N,3) x, y, z with z = altitude AMSL - origin altitude."""
        x, y = self.to_local_xy(lon_deg, lat_deg)
        z = np.asarray(alt_amsl_m, float) - self.origin_alt_amsl_m
        return np.stack(np.broadcast_arrays(x, y, z), axis=-1)

    def to_geodetic(self, xyz):
        xyz = np.asarray(xyz, float)
        lon, lat = self.to_geodetic_xy(xyz[..., 0], xyz[..., 1])
        return lon, lat, xyz[..., 2] + self.origin_alt_amsl_m

    def transform_coords(self, lonlat: np.ndarray) -> np.ndarray:
        """(N,2) lon/lat -> (N,2) x/y; the callback shape shapely.transform expects."""
        x, y = self._forward.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y])

    @staticmethod
    def relative_scale_error(distance_from_origin_m) -> np.ndarray:
        """Worst-case relative scale error of the AEQD frame at that distance (tangential)."""
        c = np.asarray(distance_from_origin_m, float) / EARTH_MEAN_RADIUS_M
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 1e-12, c / np.sin(c) - 1.0, 0.0)

    def enu_from_geodetic(self, lon_deg, lat_deg, h_ellipsoid_m, origin_h_ellipsoid_m: float):
        """Exact tangent-plane ENU (through ECEF) with ellipsoidal heights, for comparison
        and for navigation code that works in true ENU."""
        pipeline = (f"+proj=pipeline +step +proj=cart +ellps=WGS84 +step +proj=topocentric "
                    f"+ellps=WGS84 +lon_0={self.origin_lon_deg!r} +lat_0={self.origin_lat_deg!r} "
                    f"+h_0={origin_h_ellipsoid_m!r}")
        transformer = Transformer.from_pipeline(pipeline)
        lon = np.asarray(lon_deg, float)  # pyproj feeds the pipeline degrees (cart takes them)
        lat = np.asarray(lat_deg, float)
        e, n, u = transformer.transform(lon, lat, np.asarray(h_ellipsoid_m, float))
        return np.stack([np.asarray(e), np.asarray(n), np.asarray(u)], axis=-1)
