"""Dataset examples: one streaming pass for all layers, then a short render pass over the winners.

Pass 1 (`compute_dataset_examples`): the dataset is read once, in index order, in batches; the
forward pass stops after the deepest requested layer. For every layer and channel it keeps
  * top-k: the images with the highest spatial MAX of the channel (position = argmax),
  * bottom-k: the images with the lowest spatial MIN (position = argmin) - the most negative
    response (Distill's "Feature Visualization" appendix). On a layer that ends in a ReLU (see
    activations/relu.py; detected on the first batch) that is the min of the final ReLU's *input*,
    the pre-activation (``bottom_measure == "pre_relu"``; the records' ``activation`` is then that
    negative value): the post-ReLU min is 0 for almost every image. Ties are broken by the lower
    spatial mean of the layer's output, then by the lower image index (top-k ties: higher spatial
    mean, then lower index),
  * RunningStats (count / mean / std / min / max / sparsity, quantile + histogram sketch, and a
    sketch of the per-image spatial max).
Everything per batch is a few vectorised reductions on the device; state is O(channels x k) plus
fixed-size sketches, independent of the dataset size. With `checkpoint_path` the tallies and the
position in the dataset are saved atomically every `checkpoint_every` batches (and at the end); a
later call with the same path continues from there and gives the same result as one uninterrupted
pass (batches are fixed index ranges, so even float sums are grouped identically).

Pass 2 (`render_examples` / `render_all_examples` / `iter_examples`): only the winning images are
loaded again, batched, each forwarded once for all requested layers; for every (layer, channel,
kind, rank) it produces an `ExampleRecord` with the receptive-field box, a crop, the full image
and a red/blue activation overlay.

Layout (one job per file): tally.py (LayerTallies, mergeable), stream.py (pass 1),
checkpoint.py, skips.py (loader skip reporting), receptive_field.py, record.py (ExampleRecord),
render.py (pass 2).
"""
from circuitscope.records.examples.checkpoint import CHECKPOINT_FORMAT, fingerprint
from circuitscope.records.examples.receptive_field import ReceptiveField, receptive_field
from circuitscope.records.examples.record import ExampleRecord
from circuitscope.records.examples.render import iter_examples, render_all_examples, render_examples
from circuitscope.records.examples.stream import compute_dataset_examples
from circuitscope.records.examples.tally import LayerTallies

_fingerprint = fingerprint  # the old private name (tests and checkpoints' callers)

__all__ = [
    "CHECKPOINT_FORMAT",
    "ExampleRecord",
    "LayerTallies",
    "ReceptiveField",
    "compute_dataset_examples",
    "fingerprint",
    "iter_examples",
    "receptive_field",
    "render_all_examples",
    "render_examples",
]
