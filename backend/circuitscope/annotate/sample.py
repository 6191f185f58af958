"""A tiny computed-looking model written straight into the store (tests, screenshots, offline demos of the
annotation UI): three layers, units with channel renders, signed direct and expanded connections.
Nothing here runs a network."""
from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from ..store.blobs import BlobStore
from ..store.tables.records import Blob, Connection, FeatureVis, Layer, LayerStage, Model, Unit

LAYERS = [("conv1", 6), ("conv2", 6), ("block3.conv", 4)]


def _render(seed: int, size: int = 64) -> bytes:
    """A small stripe pattern whose orientation and colour depend on the seed (looks like a feature vis)."""
    hue = [(220, 60, 60), (60, 160, 80), (60, 90, 220), (230, 160, 40), (150, 60, 200), (40, 180, 190)][seed % 6]
    img = Image.new("RGB", (size, size), (245, 245, 245))
    d = ImageDraw.Draw(img)
    angle = (seed * 37) % 180
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    for k in range(-size, size * 2, 8 + seed % 5):
        x0, y0 = k * dy, -k * dx
        d.line([(x0 - dx * size * 2 + size / 2, y0 - dy * size * 2 + size / 2),
                (x0 + dx * size * 2 + size / 2, y0 + dy * size * 2 + size / 2)], fill=hue, width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_sample(session: Session, blobs: BlobStore | None, slug: str = "toy") -> Model:
    model = Model(slug=slug, name="Toy CNN", source={"kind": "sample"}, input_size=64, mean=[0.5] * 3,
                  std=[0.25] * 3, class_names=None, description="Sample model for the annotation UI")
    session.add(model)
    session.flush()
    units: dict[tuple[str, int], Unit] = {}
    seed = 0
    for pos, (name, channels) in enumerate(LAYERS):
        layer = Layer(model_id=model.id, name=name, position=pos, module_type="Conv2d",
                      output_shape=[channels, 8, 8], channels=channels)
        session.add(layer)
        session.flush()
        for stage in ("examples", "featurevis", "weights"):
            session.add(LayerStage(layer_id=layer.id, stage=stage, status="done", units_done=channels,
                                   units_total=channels))
        for i in range(channels):
            u = Unit(layer_id=layer.id, index=i, mean=0.1 * i, std=1.0, min=0.0, max=2.0 + i, sparsity=0.3,
                     top_activation=2.0 + i)
            session.add(u)
            session.flush()
            units[(name, i)] = u
            if blobs is not None:
                data = _render(seed)
                stored = blobs.put(data)
                if session.get(Blob, stored.hash) is None:
                    session.add(Blob(hash=stored.hash, size=stored.size, mime=stored.mime, width=stored.width,
                                     height=stored.height))
                    session.flush()
                session.add(FeatureVis(unit_id=u.id, objective="channel", variant=0, image_hash=stored.hash,
                                       activation=1.0, params={"steps": 0}))
            seed += 1
    # direct weights between consecutive layers, expanded conv1 -> block3.conv; signs alternate
    for (a, na), (b, nb), kind in [(LAYERS[0], LAYERS[1], "direct"), (LAYERS[1], LAYERS[2], "direct"),
                                   (LAYERS[0], LAYERS[2], "expanded")]:
        for i in range(na):
            for j in range(nb):
                w = math.sin(1.3 * i + 0.7 * j + (0.5 if kind == "expanded" else 0.0)) * (1 + (i + j) % 3)
                session.add(Connection(src_unit_id=units[(a, i)].id, dst_unit_id=units[(b, j)].id, kind=kind,
                                       strength=round(w, 4), l2=round(abs(w) * 1.1 + 0.01, 4),
                                       kernel=[[w / 9] * 3] * 3))
    session.flush()
    return model
