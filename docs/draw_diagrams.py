"""Draw the walkthrough's diagrams (docs/img/diagram_*.png) from the code's own numbers:

    python docs/draw_diagrams.py [OUT_DIR]     (or: make docs-images)

- im2col and its transpose: which input pixels land in which row;
- the shifted sum (conv2d v7): a product per input pixel, then sums along the taps;
- a Winograd tile: overlapping α×α input tiles, m×m output blocks (``winograd_cpu.tile_size``);
- the CUDA grid of conv2d v1: blocks of 32×8 threads over the output plane;
- the tiling plan: how one output tile's input window grows back through the layers
  (``tiling.input_window`` of the shipped x3 model).
"""

import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from npsrcnn import SRCNN, shipped_weights
from npsrcnn.kernels import winograd_cpu
from npsrcnn.tiling import _axis_plan
from npsrcnn.viz import save_png

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
NAMES = ["im2col", "shifted_sum", "winograd", "cuda_grid", "tiling"]


def _figure(width, height):
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(ax, rows, cols, x0=0, y0=0, labels=None, fill=None, size=1.0):
    """A rows×cols grid of cells with its top-left at (x0, y0) (y grows downwards); ``fill`` maps
    (r, c) to a colour, ``labels`` (r, c) to text."""
    for r in range(rows):
        for c in range(cols):
            colour = (fill or {}).get((r, c), "white")
            ax.add_patch(
                Rectangle((x0 + c * size, y0 + r * size), size, size, facecolor=colour, edgecolor="0.3", lw=0.6)
            )
            if labels and (r, c) in labels:
                ax.text(
                    x0 + (c + 0.5) * size, y0 + (r + 0.5) * size, labels[(r, c)], ha="center", va="center", fontsize=7
                )


def _axes(fig, xlim, ylim, title):
    ax = fig.subplots()
    ax.set_xlim(*xlim)
    ax.set_ylim(ylim[1], ylim[0])
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return ax


def im2col(path):
    """A 4×5 one-channel input, a 3×3 kernel: 2×3 output pixels, so im2col is 6 × 9 and its
    transpose 9 × 6. The window of output pixel (0, 1) and its row / column are coloured."""
    h, w, k = 4, 5, 3
    ho, wo = h - k + 1, w - k + 1
    fig = _figure(9.5, 4.2)
    ax = _axes(
        fig,
        (-0.5, 30),
        (-1.5, 10.5),
        "im2col: each output pixel's window becomes a row (v2); transposed, each row is a shifted input row (v6, v8)",
    )
    labels = {(r, c): f"{r}{c}" for r in range(h) for c in range(w)}
    window = {(r, c): "#ffd27f" for r in range(k) for c in range(1, 1 + k)}
    _grid(ax, h, w, 0, 0, labels, window)
    ax.text(2.5, -0.6, "input x (4×5), window of out[0, 1]", ha="center", fontsize=8)
    cols = {}
    for p in range(ho * wo):
        y, x = divmod(p, wo)
        for t in range(k * k):
            i, j = divmod(t, k)
            cols[(p, t)] = f"{y + i}{x + j}"
    _grid(ax, ho * wo, k * k, 7, 0, cols, {(1, t): "#ffd27f" for t in range(k * k)})
    ax.text(11.5, -0.6, "im2col (6 pixels × 9 taps)", ha="center", fontsize=8)
    ax.text(11.5, 6.7, "@ kernel (9 × C_out) = out (6 × C_out)", ha="center", fontsize=8)
    transposed = {(t, p): label for (p, t), label in cols.items()}
    _grid(ax, k * k, ho * wo, 18, 0, transposed, {(t, 1): "#ffd27f" for t in range(k * k)})
    ax.text(21, -0.6, "transposed (9 taps × 6 pixels)", ha="center", fontsize=8)
    ax.text(21, 9.7, "row (i, j) = x[i, j:j+3] then x[i+1, j:j+3]: a copy", ha="center", fontsize=8)
    save_png(fig, path)


def shifted_sum(path):
    """conv2d v7 for a 3×3 kernel and one output channel: Z = X @ K gives every input pixel its 9
    tap products; out[y, x] then sums Z[y+i, x+j, tap (i, j)], one entry from each of 9 pixels."""
    fig = _figure(8.5, 3.8)
    ax = _axes(
        fig,
        (-0.5, 22),
        (-1.5, 6.5),
        "shifted sum (v7): one GEMM Z = X @ K (C_in → 9 taps), then out[y, x] = Σ Z[y+i, x+j, (i, j)]",
    )
    k = 3
    fill = {(i, j): COLOURS[(i * k + j) % len(COLOURS)] + "80" for i in range(k) for j in range(k)}
    labels = {(i, j): f"tap {i}{j}" for i in range(k) for j in range(k)}
    _grid(ax, 5, 6, 0, 0, labels, fill, size=1.0)
    ax.text(3, -0.6, "Z: 9 values per input pixel; the coloured ones make out[0, 0]", ha="center", fontsize=8)
    ax.annotate("", xy=(10, 2.5), xytext=(7, 2.5), arrowprops={"arrowstyle": "->"})
    ax.text(8.5, 2.1, "sum", ha="center", fontsize=8)
    _grid(ax, 3, 4, 11, 1, {(0, 0): "Σ"}, {(0, 0): "#ffd27f"})
    ax.text(13, 0.4, "out (valid: 3×4)", ha="center", fontsize=8)
    ax.text(
        18.5, 2.5, "few output channels:\none BLAS call for the whole\nlayer, then cheap sums", ha="center", fontsize=8
    )
    save_png(fig, path)


def winograd(path):
    """F(m×m, r×r) on a map: α×α input tiles, each overlapping the next by r−1, give m×m outputs."""
    r, side = 3, 512
    m = winograd_cpu.tile_size(r, side, side)
    alpha = m + r - 1
    fig = _figure(8.5, 4.4)
    ax = _axes(
        fig,
        (-1, 2 * m + alpha + 12),
        (-2, alpha + m + 2),
        f"Winograd F({m}×{m}, {r}×{r}) on a {side}×{side} map: α = m + r − 1 = {alpha}",
    )
    _grid(ax, alpha + m, alpha + m, 0, 0)
    for k, (ty, tx) in enumerate([(0, 0), (0, m)]):
        ax.add_patch(Rectangle((tx, ty), alpha, alpha, fill=False, edgecolor=COLOURS[k], lw=2.5))
        ax.add_patch(Rectangle((tx, ty), m, m, facecolor=COLOURS[k] + "40", edgecolor="none"))
    ax.text(
        (alpha + m) / 2,
        -0.8,
        f"input: two {alpha}×{alpha} tiles d overlap by r−1 = {r - 1}; shaded: their {m}×{m} outputs",
        ha="center",
        fontsize=8,
    )
    x0 = alpha + m + 2
    steps = [
        f"V = Bᵀ d B      ({alpha}×{alpha} per channel)",
        f"U = G g Gᵀ      ({alpha}×{alpha}, once per kernel)",
        f"M = Σ_c U ⊙ V  → {alpha * alpha} GEMMs (tiles × C_in) @ (C_in × C_out)",
        f"Y = Aᵀ M A      ({m}×{m} outputs)",
        f"multiplications: {alpha * alpha} instead of {m * m * r * r} ({m * m * r * r / alpha**2:.2f}× fewer)",
    ]
    for k, line in enumerate(steps):
        ax.text(x0, 1 + 1.6 * k, line, fontsize=9, va="center", family="monospace")
    save_png(fig, path)


def cuda_grid(path):
    """conv2d_cuda v1: blocks of 32×8 threads tile a W'×H' output plane; the grid's z runs over
    (image, output channel). A 100×30 plane needs ceil(100/32) × ceil(30/8) = 4 × 4 blocks."""
    wo, ho, bx, by = 100, 30, 32, 8
    gx, gy = -(-wo // bx), -(-ho // by)
    fig = _figure(8.5, 3.6)
    ax = _axes(
        fig,
        (-2, gx * bx + 40),
        (-6, gy * by + 4),
        f"CUDA grid of conv2d v1: ({gx}, {gy}, N·C_out) blocks of 32×8 threads over a {wo}×{ho} output",
    )
    for j in range(gy):
        for i in range(gx):
            colour = "#ffd27f" if (i, j) == (1, 1) else "white"
            ax.add_patch(Rectangle((i * bx, j * by), bx, by, facecolor=colour, edgecolor="0.3", lw=0.8))
            ax.text(i * bx + bx / 2, j * by + by / 2, f"block ({i}, {j})", ha="center", va="center", fontsize=7)
    ax.add_patch(Rectangle((0, 0), wo, ho, fill=False, edgecolor="#d62728", lw=2))
    ax.text(
        wo / 2, -2.5, f"output plane {wo}×{ho} (red); threads past its edge return at once", ha="center", fontsize=8
    )
    ax.text(
        gx * bx + 4,
        10,
        "thread (tx, ty) of block (bx, by, z)\ncomputes out[z // C_out,\n  8·by + ty, 32·bx + tx,\n  z % C_out]",
        fontsize=8,
        va="center",
    )
    save_png(fig, path)


def tiling(path):
    """One output tile of the shipped x3 model (valid, same, valid) at the top of a 300-row image: the
    rows each layer needs, from the output back to the plane, with edge copies above row 0."""
    model = SRCNN.from_file(shipped_weights(3))
    n, tile = 300, (0, 64)
    # each layer's needed rows: the plan of the model from that layer on (tiling's own walk)
    spans = [("output tile", tile)]
    for k in range(len(model.layers), 0, -1):
        (first, stop), (above, below), _ = _axis_plan(SRCNN(model.layers[k - 1 :]), 0, slice(*tile), n)
        layer = model.layers[k - 1]
        size = layer.kernel.shape[0]
        spans.append((f"layer {k} input ({size}×{size} {layer.padding})", (first - above, stop + below)))
    fig = _figure(8.5, 3.4)
    ax = fig.subplots()
    for row, (label, (a, b)) in enumerate(spans):
        ax.barh(row, b - a, left=a, height=0.6, color=COLOURS[row % len(COLOURS)], alpha=0.6, edgecolor="0.2")
        ax.text(b + 1.5, row, f"{label}: rows {a} to {b - 1}", va="center", fontsize=8)
    ax.axvline(0, color="#d62728", lw=1.5)
    ax.text(-0.8, len(spans) - 0.4, "image edge: rows < 0\nare row 0 repeated", ha="right", fontsize=8, color="#d62728")
    ax.set_xlim(-14, 130)
    ax.set_ylim(len(spans) - 0.2, -0.8)
    ax.set_yticks([])
    ax.set_xlabel("image row")
    ax.set_title(
        f"tiling plan: output rows {tile[0]}-{tile[1] - 1} of a {n}-row image, the shipped x3 model; "
        "same layers need no more than their map holds",
        fontsize=9,
    )
    save_png(fig, path)


def main(out_dir="docs/img"):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name in NAMES:
        files.append(out_dir / f"diagram_{name}.png")
        globals()[name](files[-1])
    print("wrote " + ", ".join(str(f) for f in files))
    return files


if __name__ == "__main__":
    main(*sys.argv[1:])
