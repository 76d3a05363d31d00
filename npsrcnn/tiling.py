"""Tiled inference: the network's output on any rectangle of a plane, from only the input it needs.

An SRCNN activation of a large image does not fit in memory (one 128-channel float32 map of a
7680x4320 output is 17 GB), so the output is cut into tiles and each tile runs through the network
on its own, with exactly the result of the whole plane:

- A tile needs the input within the model's ``margin`` of it (every layer's half-kernel).
- Untiled, the plane is edge-padded by ``model.shrink`` for the valid layers, and each ``same`` or
  ``replicate`` layer pads its own input (zeros, or the edge repeated) at the border of its map.
  A tile reproduces both only where it touches the true border: walking the layers backwards, each
  layer's input window is the output window grown by the half-kernel, cut to that layer's map; what
  was cut off is the padding the layer must add itself, its ``Border``. ``SRCNN.forward`` takes one
  per layer, and the kernels read them in place where they can (no padded copy per layer per tile).
- Arithmetic is per pixel, so tiled and untiled agree to the float32 rounding of the kernels
  (Winograd's tiles fall on other pixels when the map is cut differently).

Tiles run one after another; each layer's kernel already spreads a tile's rows over every core.
"""

import math

import numpy as np

from npsrcnn.reference import Border, pad_split

TILE_MEMORY = 192 << 20  # bytes the activations of one tile may take; sets the automatic tile size
WORKSPACE = 2  # kernels' scratch (im2col bands, Winograd tiles) on top of a layer's input and output


def auto_tile(model, budget=TILE_MEMORY):
    """Output tile side so that the widest layer's input, output and scratch for one tile fit in
    ``budget`` bytes: ``4 * WORKSPACE * max(C_in + C_out)`` bytes per pixel of the tile's window."""
    per_pixel = 4 * WORKSPACE * max(l.kernel.shape[2] + l.kernel.shape[3] for l in model.layers)
    top, bottom, left, right = model.margin
    side = math.isqrt(budget // per_pixel) - max(top + bottom, left + right)
    return max(32, side // 16 * 16)


def tile_grid(shape, tile):
    """``(rows, cols)`` slices cutting an ``(H, W)`` plane into tiles of ``tile x tile`` (smaller at the
    right and bottom), row by row; ``tile = 0``: the whole plane."""
    h, w = shape[:2]
    step_h, step_w = (tile, tile) if tile else (h, w)
    return [
        (slice(r, min(r + step_h, h)), slice(c, min(c + step_w, w)))
        for r in range(0, h, step_h)
        for c in range(0, w, step_w)
    ]


def input_window(model, rows, cols, shape):
    """The ``(rows, cols)`` slices of an ``(H, W)`` plane that the output tile ``rows x cols`` reads."""
    return tuple(slice(*_axis_plan(model, axis, s, n)[0]) for axis, s, n in ((0, rows, shape[0]), (1, cols, shape[1])))


def forward_tile(model, window, rows, cols, shape, backend="auto"):
    """The network's output on ``rows x cols`` of an ``(H, W) = shape`` plane, ``(len(rows), len(cols))``,
    equal to that part of ``run_on_luma(model, plane, tile=0)``.

    ``window``: the plane's pixels at ``input_window(model, rows, cols, shape)``, float32.
    """
    (_, row_edge, row_pads), (_, col_edge, col_pads) = (
        _axis_plan(model, 0, rows, shape[0]),
        _axis_plan(model, 1, cols, shape[1]),
    )
    x = np.pad(np.asarray(window, np.float32), (row_edge, col_edge), mode="edge")  # the plane's edge, once
    borders = [
        Border(*rows_pad, *cols_pad, layer.padding == "replicate")
        for layer, rows_pad, cols_pad in zip(model.layers, row_pads, col_pads)
    ]
    return model.forward(x, backend, borders)


def _axis_plan(model, axis, out, n):
    """One axis of an output tile ``out`` (a slice of ``range(n)``) -> ``((start, stop) of the plane read,
    (before, after) edge padding of what was read, [(before, after) each layer pads its input]).

    Coordinates are the plane's; a layer's map reaches past ``[0, n)`` by the valid layers after it.
    """
    need = (out.start, out.stop)
    reach = (0, n)  # extent of the current layer's output map
    pads = []
    for layer in reversed(model.layers):
        before, after = pad_split(layer.kernel.shape[axis])
        if layer.padding == "valid":  # its input map is larger by the half-kernel on each side
            reach = (reach[0] - before, reach[1] + after)
        want = (need[0] - before, need[1] + after)
        need = (max(want[0], reach[0]), min(want[1], reach[1]))
        pads.append((need[0] - want[0], want[1] - need[1]))  # nonzero only at the map's border
    read = (max(need[0], 0), min(need[1], n))
    return read, (read[0] - need[0], need[1] - read[1]), pads[::-1]
