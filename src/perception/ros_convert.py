"""Message <-> array conversions for the perception nodes (node layer: imports ROS messages).

No sensor_msgs_py in the PyPI ROS wheels, so PointCloud2 packing is done here with numpy
structured dtypes (little-endian float32 / float64 fields, any point_step / padding).
"""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from visualization_msgs.msg import Marker, MarkerArray

OBJECT_FIELDS = ("x", "y", "z", "vx", "vy", "yaw", "length", "width", "height", "id", "class", "score")

_PF_DTYPES = {PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2",
              PointField.UINT16: "u2", PointField.INT32: "i4", PointField.UINT32: "u4",
              PointField.FLOAT32: "f4", PointField.FLOAT64: "f8"}


class CloudFormatError(ValueError):
    pass


def cloud_fields(msg: PointCloud2, names=("x", "y", "z")) -> np.ndarray:
    """(N, len(names)) float64 array of the named fields of a PointCloud2."""
    by_name = {f.name: f for f in msg.fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CloudFormatError(f"PointCloud2 lacks field(s) {missing} (has {list(by_name)})")
    n_pts = msg.width * msg.height
    if n_pts == 0:
        return np.empty((0, len(names)))
    if msg.point_step <= 0 or len(msg.data) < n_pts * msg.point_step:
        raise CloudFormatError(f"PointCloud2 data is {len(msg.data)} bytes, expected "
                               f"{n_pts} x point_step {msg.point_step}")
    endian = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({"names": list(names),
                      "formats": [endian + _PF_DTYPES[by_name[n].datatype] for n in names],
                      "offsets": [by_name[n].offset for n in names],
                      "itemsize": msg.point_step})
    if msg.row_step and msg.row_step != msg.width * msg.point_step and msg.height > 1:
        rows = [np.frombuffer(bytes(msg.data[r * msg.row_step:r * msg.row_step + msg.width * msg.point_step]),
                              dtype=dtype) for r in range(msg.height)]
        arr = np.concatenate(rows)
    else:
        arr = np.frombuffer(bytes(msg.data[:n_pts * msg.point_step]), dtype=dtype)
    return np.column_stack([arr[n].astype(np.float64) for n in names])


def make_cloud(header, columns: dict) -> PointCloud2:
    """PointCloud2 with float32 fields in the order of ``columns`` (name -> (N,) array)."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    arr = np.zeros(n, dtype=[(k, "<f4") for k in names])
    for k in names:
        arr[k] = np.asarray(columns[k], dtype=np.float32)
    msg = PointCloud2()
    msg.header = header
    msg.height = 1
    msg.width = n
    msg.fields = [PointField(name=k, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, k in enumerate(names)]
    msg.is_bigendian = False
    msg.point_step = 4 * len(names)
    msg.row_step = msg.point_step * n
    msg.is_dense = True
    msg.data = arr.tobytes()
    return msg


def objects_to_cloud(header, tracks) -> PointCloud2:
    """``tracker.TrackOutput`` list (ground space) -> perception/objects PointCloud2."""
    cols = {k: np.zeros(len(tracks)) for k in OBJECT_FIELDS}
    for i, t in enumerate(tracks):
        size = t.size if t.size is not None else np.zeros(3)
        vals = (t.position[0], t.position[1], t.z, t.velocity[0], t.velocity[1], t.yaw,
                size[0], size[1], size[2], t.track_id, t.cls, t.score)
        for k, v in zip(OBJECT_FIELDS, vals):
            cols[k][i] = v
    return make_cloud(header, cols)


def objects_to_markers(header, tracks, lifetime_s: float = 0.5) -> MarkerArray:
    arr = MarkerArray()
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    arr.markers.append(clear)
    for t in tracks:
        size = t.size if t.size is not None else np.array([0.5, 0.5, 0.5])
        m = Marker()
        m.header = header
        m.ns = "objects"
        m.id = int(t.track_id)
        m.type = Marker.CYLINDER if t.cls == 2 else Marker.CUBE
        m.action = Marker.ADD
        m.pose.position.x, m.pose.position.y, m.pose.position.z = float(t.position[0]), float(t.position[1]), float(t.z)
        m.pose.orientation.z = float(np.sin(t.yaw / 2))
        m.pose.orientation.w = float(np.cos(t.yaw / 2))
        m.scale.x, m.scale.y, m.scale.z = (max(float(v), 0.05) for v in size)
        m.color.r, m.color.g, m.color.b, m.color.a = (0.9, 0.4, 0.1, 0.6) if t.cls == 1 else (0.1, 0.6, 0.9, 0.6)
        m.lifetime.sec = int(lifetime_s)
        m.lifetime.nanosec = int((lifetime_s % 1) * 1e9)
        arr.markers.append(m)
    return arr
