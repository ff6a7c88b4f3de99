"""Lidar object detection core: ground removal, Euclidean clustering, box / cylinder fitting.

Core module (numpy / scipy, no rclpy). The pipeline is Autoware's classic one:

1. ``remove_ground_ransac`` (RANSAC plane, refined by least squares on its inliers) or
   ``remove_ground_grid`` (lowest point per cell, for uneven terrain);
2. ``euclidean_clusters``: points closer than ``tolerance_m`` belong to one object. Points
   are first binned into voxels (side ``tolerance_m / 2``); voxel centroids are linked with a
   ``scipy.spatial.cKDTree`` radius query and labelled by sparse connected components, then
   the labels go back to the points. Binning bounds the pair count in dense regions, which is
   what makes 30k points fit a 10 Hz budget; the voxel side keeps the gap error below half a
   tolerance.
3. ``fit_object``: an L-shape box (Zhang et al., "Efficient L-Shape Fitting for Vehicle
   Detection Using Laser Scanners", IEEE IV 2017: search over heading, closeness criterion)
   for vehicle-sized clusters, a vertical cylinder for small ones (poles, pedestrians).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

CLASS_UNKNOWN, CLASS_VEHICLE, CLASS_SMALL = 0, 1, 2


def finite_points(points, warnings: Counter | None = None) -> np.ndarray:
    """(N, >=3) float array with rows holding NaN/Inf removed (counted in ``warnings``)."""
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return np.empty((0, 3))
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {pts.shape}")
    ok = np.all(np.isfinite(pts[:, :3]), axis=1)
    if warnings is not None and not ok.all():
        warnings["point_non_finite"] += int(np.count_nonzero(~ok))
    return pts[ok, :3]


@dataclass
class Plane:
    normal: np.ndarray  # unit, z >= 0
    d: float            # n . p + d = 0

    def distance(self, pts: np.ndarray) -> np.ndarray:
        return pts @ self.normal + self.d


def remove_ground_ransac(points, distance_threshold_m: float = 0.15, iterations: int = 100,
                         max_tilt_deg: float = 10.0, sample_size: int = 4000,
                         rng: np.random.Generator | None = None, seed_cell_m: float = 2.0):
    """Split a cloud into (non_ground, ground_mask, plane).

    Hypotheses are drawn all at once (``iterations`` triples), scored on a random subsample
    of ``sample_size`` points, and planes tilted more than ``max_tilt_deg`` from horizontal
    are rejected (a wall is not the ground). The winner is refit by SVD on its inliers.
    Returns plane=None if no acceptable plane exists (then nothing is removed).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    pts = finite_points(points)
    n = len(pts)
    if n < 3:
        return pts, np.zeros(n, bool), None
    # Hypotheses and votes come from the lowest points of each ``seed_cell_m`` cell only: in
    # a street most returns are walls and car bodies, and a tilted plane through car roofs
    # and the kerb can out-vote the road; the road is the lowest surface almost everywhere.
    cand = pts
    if seed_cell_m > 0:
        inv, _ = _voxel_index(np.column_stack([pts[:, :2], np.zeros(n)]), seed_cell_m)
        zmin = _group_min(pts[:, 2], inv)
        low = pts[:, 2] - zmin[inv] <= 2.0 * distance_threshold_m
        if low.sum() >= 3:
            cand = pts[low]
    # votes on a random subsample (with replacement: a permutation of 30k points costs more
    # than the whole vote)
    sub = cand if len(cand) <= sample_size else cand[rng.integers(0, len(cand), sample_size)]
    idx = rng.integers(0, len(sub), size=(iterations, 3))
    p0, p1, p2 = sub[idx[:, 0]], sub[idx[:, 1]], sub[idx[:, 2]]
    normals = np.cross(p1 - p0, p2 - p0)
    norm = np.linalg.norm(normals, axis=1)
    valid = norm > 1e-9
    normals[valid] /= norm[valid, None]
    normals[normals[:, 2] < 0] *= -1
    valid &= normals[:, 2] >= np.cos(np.deg2rad(max_tilt_deg))
    if not valid.any():
        return pts, np.zeros(n, bool), None
    normals, p0 = normals[valid], p0[valid]
    d = -np.einsum("ij,ij->i", normals, p0)
    dist = np.abs(sub @ normals.T + d)                       # (S, H)
    best = int(np.argmax((dist < distance_threshold_m).sum(axis=0)))
    inl = np.abs(cand @ normals[best] + d[best]) < distance_threshold_m
    if inl.sum() >= 3:  # least-squares refinement
        q = cand[inl]
        c = q.mean(axis=0)
        # smallest-eigenvalue eigenvector of the 3x3 scatter = least-squares plane normal
        _, vec = np.linalg.eigh((q - c).T @ (q - c))
        nrm = vec[:, 0] if vec[2, 0] >= 0 else -vec[:, 0]
        if nrm[2] >= np.cos(np.deg2rad(max_tilt_deg)):
            plane = Plane(nrm, float(-nrm @ c))
        else:
            plane = Plane(normals[best], float(d[best]))
    else:
        plane = Plane(normals[best], float(d[best]))
    dist_all = plane.distance(pts)
    ground = np.abs(dist_all) < distance_threshold_m
    # points below the plane by more than the threshold are noise / multipath, not objects
    below = dist_all < -distance_threshold_m
    return pts[~ground & ~below], ground, plane


def remove_ground_grid(points, cell_m: float = 1.0, height_threshold_m: float = 0.2):
    """Ground by lowest point per (cell_m x cell_m) cell: a point is ground if within
    ``height_threshold_m`` of its cell's minimum z. Handles slopes and ramps."""
    pts = finite_points(points)
    if len(pts) == 0:
        return pts, np.zeros(0, bool)
    flat = np.column_stack([pts[:, :2], np.zeros(len(pts))])
    inv, _ = _voxel_index(flat, cell_m)
    zmin = _group_min(pts[:, 2], inv)
    ground = pts[:, 2] - zmin[inv] < height_threshold_m
    return pts[~ground], ground


def _group_min(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-group minimum (groups are 0..G-1), via sort + reduceat (ufunc.at is ~10x slower)."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out = np.full(int(groups.max()) + 1, np.inf)
    out[g[starts]] = np.minimum.reduceat(values[order], starts)
    return out


def _voxel_index(pts: np.ndarray, voxel: float):
    """(inverse index, counts) of voxels of side ``voxel``; 1-D keys keep np.unique fast."""
    k = np.floor(pts / voxel).astype(np.int64)
    k -= k.min(axis=0)
    span = k.max(axis=0) + 1
    key = (k[:, 0] * span[1] + k[:, 1]) * span[2] + k[:, 2]
    _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    return inv.reshape(-1), counts


def euclidean_clusters(points, tolerance_m: float = 0.5, min_points: int = 5,
                       max_points: int = 50000, voxel_m: float | None = None) -> np.ndarray:
    """Label each point with a cluster index (0..K-1) or -1 (too small / too large / invalid).

    ``voxel_m`` defaults to ``tolerance_m / 2``; ``voxel_m=0`` clusters raw points.
    """
    if not (np.isfinite(tolerance_m) and tolerance_m > 0):
        raise ValueError(f"euclidean_clusters: tolerance_m must be > 0, got {tolerance_m}")
    if min_points < 1 or max_points < min_points:
        raise ValueError(f"euclidean_clusters: need 1 <= min_points <= max_points, got {min_points}, {max_points}")
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    labels = -np.ones(n, dtype=np.int64)
    if n == 0:
        return labels
    ok = np.all(np.isfinite(pts[:, :3]), axis=1)
    pts_ok = pts[ok, :3]
    voxel = tolerance_m / 2.0 if voxel_m is None else float(voxel_m)
    if voxel > 0:
        inv, counts = _voxel_index(pts_ok, voxel)
        cent = np.column_stack([np.bincount(inv, weights=pts_ok[:, i], minlength=len(counts))
                                for i in range(3)]) / counts[:, None]
    else:
        inv = np.arange(len(pts_ok))
        cent = pts_ok
    m = len(cent)
    pairs = cKDTree(cent).query_pairs(tolerance_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, comp = connected_components(graph, directed=False)
    point_comp = comp[inv]
    sizes = np.bincount(point_comp)
    good = (sizes >= min_points) & (sizes <= max_points)
    remap = -np.ones(len(sizes), dtype=np.int64)
    remap[good] = np.arange(int(good.sum()))
    labels[np.flatnonzero(ok)] = remap[point_comp]
    return labels


def grid_clusters(points, tolerance_m: float = 0.3, min_points: int = 5, max_points: int = 50000,
                  max_cells: int = 4_000_000) -> np.ndarray:
    """Fast approximate clustering on the (x, y) plane: connected components (8-neighbour,
    ``scipy.ndimage.label``) of a grid with cell side ``tolerance_m``.

    Two points closer than the tolerance always share a component (their cells differ by at
    most one in each axis); points up to 2*sqrt(2)*tolerance apart may also be joined, so it
    merges more eagerly than ``euclidean_clusters``. Cost is O(points + cells), no KD-tree.
    Returns labels like ``euclidean_clusters``; falls back to it when the extent would need
    more than ``max_cells`` cells.
    """
    from scipy import ndimage

    if not (np.isfinite(tolerance_m) and tolerance_m > 0):
        raise ValueError(f"grid_clusters: tolerance_m must be > 0, got {tolerance_m}")
    pts = np.asarray(points, dtype=float)
    labels = -np.ones(len(pts), dtype=np.int64)
    if len(pts) == 0:
        return labels
    ok = np.all(np.isfinite(pts[:, :2]), axis=1)
    ij = np.floor(pts[ok, :2] / tolerance_m).astype(np.int64)
    if len(ij) == 0:
        return labels
    ij -= ij.min(axis=0)
    shape = tuple(int(v) + 1 for v in ij.max(axis=0))
    if shape[0] * shape[1] > max_cells:
        return euclidean_clusters(np.column_stack([pts[:, :2], np.zeros(len(pts))]), tolerance_m,
                                  min_points, max_points)
    occ = np.zeros(shape, dtype=bool)
    occ[ij[:, 0], ij[:, 1]] = True
    comp, _ = ndimage.label(occ, structure=np.ones((3, 3), bool))
    point_comp = comp[ij[:, 0], ij[:, 1]] - 1
    sizes = np.bincount(point_comp)
    good = (sizes >= min_points) & (sizes <= max_points)
    remap = -np.ones(len(sizes), dtype=np.int64)
    remap[good] = np.arange(int(good.sum()))
    labels[np.flatnonzero(ok)] = remap[point_comp]
    return labels


def _closeness(xy, thetas, min_distance_m):
    """Zhang et al. closeness score for each heading in ``thetas``; also the projections."""
    c, s = np.cos(thetas), np.sin(thetas)
    c1 = xy[:, 0:1] * c + xy[:, 1:2] * s         # (N, T)
    c2 = -xy[:, 0:1] * s + xy[:, 1:2] * c
    d1 = np.minimum(c1.max(0) - c1, c1 - c1.min(0))
    d2 = np.minimum(c2.max(0) - c2, c2 - c2.min(0))
    return (1.0 / np.maximum(np.minimum(d1, d2), min_distance_m)).sum(axis=0), c1, c2


def lshape_fit(xy: np.ndarray, angle_step_deg: float = 1.0, min_distance_m: float = 0.01):
    """Zhang et al. 2017 search-based L-shape fitting with the closeness criterion.

    For each heading theta in [0, 90) deg, points are projected on e1 = (cos, sin) and
    e2 = (-sin, cos); each point's distance to the nearer of the two closest rectangle
    edges is d = min(d1, d2) and the score is sum 1 / max(d, d0). The best heading gives the
    minimum-area rectangle aligned with it. Returns (cx, cy, yaw, length, width) with
    length >= width and yaw the direction of the long side.
    """
    xy = np.asarray(xy, float)
    mean_xy = xy.mean(axis=0)
    xy = xy - mean_xy  # conditioning only; the centre is added back below
    # coarse-to-fine search: 5-deg grid, then ``angle_step_deg`` around the best coarse angle
    fine = np.deg2rad(np.arange(0.0, 90.0, angle_step_deg))
    score, c1, c2 = _closeness(xy, fine, min_distance_m)
    k = int(np.argmax(score))
    th = float(fine[k])
    a1, b1 = c1[:, k].min(), c1[:, k].max()
    a2, b2 = c2[:, k].min(), c2[:, k].max()
    e1 = np.array([np.cos(th), np.sin(th)])
    e2 = np.array([-np.sin(th), np.cos(th)])
    centre = e1 * (a1 + b1) / 2 + e2 * (a2 + b2) / 2 + mean_xy
    l1, l2 = b1 - a1, b2 - a2
    if l1 >= l2:
        yaw, length, width = th, l1, l2
    else:
        yaw, length, width = th + np.pi / 2, l2, l1
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # a box is symmetric under a half turn
    return float(centre[0]), float(centre[1]), float(yaw), float(length), float(width)


@dataclass
class DetectedObject:
    x: float
    y: float
    z: float
    yaw: float
    length: float
    width: float
    height: float
    cls: int
    score: float
    num_points: int

    def as_row(self) -> np.ndarray:
        """Tracker row: x, y, z, yaw, length, width, height, class."""
        return np.array([self.x, self.y, self.z, self.yaw, self.length, self.width, self.height, self.cls])


def fit_object(cluster: np.ndarray, small_max_extent_m: float = 1.0,
               min_box_size_m: float = 0.1) -> DetectedObject:
    """Box for vehicle-sized clusters (L-shape), cylinder for small ones.

    ``score`` grows with point count (saturating at 20 points, enough for a far car seen by one
    or two rings of a 16-layer lidar at 30 m): a 5-point blob is less
    certain than a 500-point car, and the tracker uses it for its high/low split.
    """
    pts = np.asarray(cluster, float)
    zmin, zmax = float(pts[:, 2].min()), float(pts[:, 2].max())
    height = max(zmax - zmin, min_box_size_m)
    xy = pts[:, :2]
    extent = np.ptp(xy, axis=0)
    score = float(min(1.0, len(pts) / 20.0))
    if max(extent) <= small_max_extent_m:
        cx, cy = xy.mean(axis=0)
        r = float(np.max(np.hypot(xy[:, 0] - cx, xy[:, 1] - cy))) if len(xy) > 1 else 0.0
        dia = max(2 * r, min_box_size_m)
        return DetectedObject(float(cx), float(cy), (zmin + zmax) / 2, 0.0, dia, dia, height,
                              CLASS_SMALL, score, len(pts))
    # The criterion's cost is O(points x angles); 400 evenly strided points keep every edge
    # populated for a car at lidar densities and bound the time per cluster.
    fit_xy = xy if len(xy) <= 400 else xy[np.linspace(0, len(xy) - 1, 400).astype(int)]
    cx, cy, yaw, length, width = lshape_fit(fit_xy)
    # extents from all points along the chosen axes (the subsample may miss an extreme)
    e1 = np.array([np.cos(yaw), np.sin(yaw)])
    e2 = np.array([-np.sin(yaw), np.cos(yaw)])
    p1, p2 = xy @ e1, xy @ e2
    length, width = float(np.ptp(p1)), float(np.ptp(p2))
    cx, cy = e1 * (p1.min() + p1.max()) / 2 + e2 * (p2.min() + p2.max()) / 2
    return DetectedObject(cx, cy, (zmin + zmax) / 2, yaw, max(length, min_box_size_m),
                          max(width, min_box_size_m), height, CLASS_VEHICLE, score, len(pts))


@dataclass
class LidarDetectorConfig:
    ground_method: str = "ransac"      # "ransac", "grid" or "none"
    ground_threshold_m: float = 0.15
    cluster_tolerance_m: float = 0.3   # a lamp post 0.35 m from a wall stays separate
    cluster_min_points: int = 5
    cluster_max_points: int = 20000
    max_range_m: float = 60.0
    min_height_m: float = -5.0
    max_height_m: float = 5.0
    small_max_extent_m: float = 1.0
    cluster_method: str = "kdtree"     # "kdtree" (exact Euclidean) or "grid" (fast, merges more)
    cluster_2d: bool = True            # cluster on (x, y) only: the rings of a multi-layer lidar
                                       # are vertically sparse (2 deg = 0.7 m at 20 m), so a pole
                                       # or a pedestrian would fall apart in 3-D
    max_object_length_m: float = 12.0  # longer clusters are structure (walls, buildings, hedges):
    max_object_width_m: float = 5.0    # left to the occupancy grid, not tracked as objects


def detect_objects(points, cfg: LidarDetectorConfig | None = None,
                   rng: np.random.Generator | None = None, warnings: Counter | None = None,
                   sensor_xy=(0.0, 0.0)):
    """Full pipeline: cloud (N, 3) in the vehicle/map frame -> list[DetectedObject].

    ``sensor_xy``: the sensor's position in that frame (``max_range_m`` is measured from it)."""
    cfg = cfg or LidarDetectorConfig()
    warnings = warnings if warnings is not None else Counter()
    pts = finite_points(points, warnings)
    if len(pts) == 0:
        warnings["cloud_empty"] += 1
        return []
    r = np.hypot(pts[:, 0] - sensor_xy[0], pts[:, 1] - sensor_xy[1])
    pts = pts[(r <= cfg.max_range_m) & (pts[:, 2] >= cfg.min_height_m) & (pts[:, 2] <= cfg.max_height_m)]
    if cfg.ground_method == "ransac":
        pts, _, _ = remove_ground_ransac(pts, cfg.ground_threshold_m, rng=rng)
    elif cfg.ground_method == "grid":
        pts, _ = remove_ground_grid(pts, height_threshold_m=cfg.ground_threshold_m)
    elif cfg.ground_method != "none":
        raise ValueError(f"ground_method must be ransac, grid or none, got {cfg.ground_method!r}")
    if len(pts) == 0:
        return []
    if cfg.cluster_method == "grid":
        labels = grid_clusters(pts, cfg.cluster_tolerance_m, cfg.cluster_min_points, cfg.cluster_max_points)
    elif cfg.cluster_method == "kdtree":
        cl_pts = np.column_stack([pts[:, :2], np.zeros(len(pts))]) if cfg.cluster_2d else pts
        labels = euclidean_clusters(cl_pts, cfg.cluster_tolerance_m, cfg.cluster_min_points, cfg.cluster_max_points)
    else:
        raise ValueError(f"cluster_method must be kdtree or grid, got {cfg.cluster_method!r}")
    if labels.max(initial=-1) < 0:
        return []
    order = np.argsort(labels, kind="stable")
    lab_sorted = labels[order]
    start = np.searchsorted(lab_sorted, 0)
    objs = []
    bounds = np.flatnonzero(np.diff(lab_sorted[start:])) + 1 + start
    for chunk in np.split(order[start:], bounds - start):
        if len(chunk):
            o = fit_object(pts[chunk], cfg.small_max_extent_m)
            if o.length > cfg.max_object_length_m or o.width > cfg.max_object_width_m:
                warnings["cluster_structure"] += 1  # counted, not an error
                continue
            objs.append(o)
    return objs
