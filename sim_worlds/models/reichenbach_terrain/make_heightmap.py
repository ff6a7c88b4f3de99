"""Writes heightmap.png: the Kander valley at Flugplatz Reichenbach (LSGR), simplified.

The airfield lies on the flat valley floor (~706 m AMSL) with slopes rising east and west. The image
is 129 x 129 (Gazebo needs 2^n + 1), 8-bit, spanning 0..255 so that Gazebo and MuJoCo (which
normalises heightfields to [0, 1]) agree on the scale: height = size.z * pixel / 255.
Run: python make_heightmap.py  (deterministic; no randomness)
"""
import numpy as np
import cv2

N = 129
HALF_EXTENT_M = 500.0          # the model's <size> is 1000 x 1000 m
FLOOR_HALF_WIDTH_M = 180.0     # flat valley floor either side of the runway


def heights(n: int = N) -> np.ndarray:
    axis = np.linspace(-HALF_EXTENT_M, HALF_EXTENT_M, n)
    x, y = np.meshgrid(axis, axis)             # x east, y north
    slope = np.clip((np.abs(x) - FLOOR_HALF_WIDTH_M) / (HALF_EXTENT_M - FLOOR_HALF_WIDTH_M), 0.0, 1.0)
    ridge = slope ** 1.5 * (1.0 + 0.15 * np.sin(y / 90.0))       # uneven valley sides
    h = ridge / ridge.max()
    return h


if __name__ == "__main__":
    h = heights()
    img = np.round(h * 255.0).astype(np.uint8)
    img = img[::-1]              # image row 0 is the north edge (+y)
    cv2.imwrite("materials/textures/heightmap.png", img)
