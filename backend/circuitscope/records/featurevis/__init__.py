"""Feature visualizations for many units at once (one job per module, like lucent's ``optvis``).

- ``record``: ``FeatureVisRecord``, what a render yields;
- ``param``: image parameterizations (lucent's FFT image, MACO's phase-only one);
- ``transforms``: lucent's standard transforms, and one fused affine transform scaled to the RF;
- ``objectives``: what is maximised, and what records report;
- ``layer`` / ``probe``: running the model up to a layer (through ``activations.Trace``), and what
  a renderer needs to know about it (ReLU at the end, receptive field, linear units, sizes);
- ``render``: ``render_feature_vis``, the batched optimizer;
- ``measure``: measuring any image on a unit;
- ``fidelity``: renders compared with the unit's top dataset example.
Image encoding lives in ``records.codec`` (shared with the dataset examples).
"""
from circuitscope.records.codec import decode_image, encode_lossless_webp, quantize
from circuitscope.records.featurevis.layer import as_bchw, forward_to_layer, forward_to_layer_pre_relu, resolve_layer
from circuitscope.records.featurevis.measure import measure_activation, measure_activations, measure_peaks
from circuitscope.records.featurevis.objectives import map_position
from circuitscope.records.featurevis.param import FFTImage, PhaseImage, spectrum_shape
from circuitscope.records.featurevis.record import OBJECTIVES, FeatureVisRecord
from circuitscope.records.featurevis.render import STYLES, render_feature_vis
from circuitscope.records.featurevis.transforms import FusedTransform, lucent_standard_transforms

__all__ = [
    "OBJECTIVES",
    "STYLES",
    "FFTImage",
    "FeatureVisRecord",
    "FusedTransform",
    "PhaseImage",
    "as_bchw",
    "decode_image",
    "encode_lossless_webp",
    "forward_to_layer",
    "forward_to_layer_pre_relu",
    "lucent_standard_transforms",
    "map_position",
    "measure_activation",
    "measure_activations",
    "measure_peaks",
    "quantize",
    "render_feature_vis",
    "resolve_layer",
    "spectrum_shape",
]
