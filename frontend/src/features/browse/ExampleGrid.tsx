import { useState } from "react";
import { Lightbox } from "../../shared/Lightbox";
import { fmt } from "../../shared/format";
import { type Example } from "./browseApi";

/** Side of one example cell in CSS pixels. */
export const EX = 88;

/** Which sides of the model-input image a receptive-field box touches (where the crop was clipped). */
export function clippedSides(box: number[], inputSize: number): { left: boolean; top: boolean; right: boolean; bottom: boolean } {
  if (box.length !== 4 || inputSize <= 0) return { left: false, top: false, right: false, bottom: false };
  return { left: box[0] <= 0, top: box[1] <= 0, right: box[2] >= inputSize, bottom: box[3] >= inputSize };
}

/** Where the crop sits in its square cell, keeping its aspect ratio. A crop clipped at the image border is
 * pushed away from that border, so the empty (hatched) part of the cell is where the receptive field reached
 * outside the image (zero padding). */
export function cropPlacement(box: number[], inputSize: number, cell = EX): { width: number; height: number; left: number; top: number; clipped: boolean } {
  const w = box.length === 4 ? Math.max(1, box[2] - box[0]) : 1;
  const h = box.length === 4 ? Math.max(1, box[3] - box[1]) : 1;
  const scale = cell / Math.max(w, h);
  const width = Math.round(w * scale);
  const height = Math.round(h * scale);
  const s = clippedSides(box, inputSize);
  // Centre by default; a side clipped on one end only shifts the crop to the other end.
  const left = s.left && !s.right ? cell - width : s.right && !s.left ? 0 : Math.round((cell - width) / 2);
  const top = s.top && !s.bottom ? cell - height : s.bottom && !s.top ? 0 : Math.round((cell - height) / 2);
  return { width, height, left, top, clipped: width !== height };
}

/** Dataset examples: the receptive-field crop at its true aspect ratio (border crops marked), or (heatmap on)
 * the whole image with the activation overlay and the crop's box outlined. Click one to enlarge it. */
export function ExampleGrid({
  title,
  rows,
  heatmap,
  kind,
  inputSize,
  note,
  mapSize,
  compact,
}: {
  title: string;
  rows: Example[];
  heatmap: boolean;
  kind: string;
  inputSize: number;
  note?: string;
  /** [height, width] of the layer's activation map (to say whether a position is on its border). */
  mapSize?: [number, number] | null;
  /** A row of a bigger section (examples across the distribution): the title only, no description. */
  compact?: boolean;
}) {
  const [open, setOpen] = useState<number | null>(null);
  const shown = open !== null ? rows[open] : null;
  return (
    <div className={`examples examples-${kind}`}>
      <h3>
        {title}{" "}
        <span className="muted small" hidden={compact}>
          {rows.length ? `${rows.length} images · activation at (y, x) of the activation map · ${heatmap ? "whole image, overlay: red +, blue −" : "receptive-field crop (hatched: outside the image)"}` : ""}
          {note ? ` · ${note}` : ""}
        </span>
      </h3>
      {rows.length === 0 ? (
        <p className="muted small">No {kind} examples stored.</p>
      ) : (
        <div className="example-grid">
          {rows.map((ex, i) => {
            const place = cropPlacement(ex.box, inputSize);
            const onBorder = mapSize ? isBorderPosition(ex, mapSize) : false;
            return (
              <figure
                key={`${ex.kind}-${ex.rank}`}
                className={`example${place.clipped ? " clipped" : ""}`}
                title={`${ex.ref}${ex.label ? ` (${ex.label})` : ""} · position y=${ex.y}, x=${ex.x}${place.clipped ? " · the receptive field reaches outside the image (hatched)" : ""}`}
                data-border={onBorder ? 1 : 0}
              >
                <a
                  href={ex.image}
                  className="example-img"
                  onClick={(e) => {
                    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return; // new tab still works
                    e.preventDefault();
                    setOpen(i);
                  }}
                >
                  {heatmap ? (
                    <>
                      <img className="photo" src={ex.image} width={EX} height={EX} alt={`${kind} example ${(ex.rank % 1000) + 1}, whole image`} decoding="async" />
                      <img className="overlay" src={ex.heatmap} width={EX} height={EX} alt="" aria-hidden="true" />
                      {ex.box.length === 4 && inputSize > 0 && <RfBox box={ex.box} inputSize={inputSize} />}
                    </>
                  ) : (
                    <img
                      className="crop"
                      src={ex.crop}
                      width={place.width}
                      height={place.height}
                      style={{ left: place.left, top: place.top }}
                      alt={`${kind} example ${(ex.rank % 1000) + 1}`}
                      loading="lazy"
                      decoding="async"
                    />
                  )}
                </a>
                <figcaption>
                  <span className={ex.activation >= 0 ? "pos" : "neg"}>{fmt(ex.activation, 2)}</span>
                  <span className={onBorder ? "border-pos" : "muted"} title={onBorder ? "on the border of the activation map" : undefined}>
                    ({ex.y},{ex.x})
                  </span>
                  {ex.label && <span className="ex-label">{ex.label}</span>}
                </figcaption>
              </figure>
            );
          })}
        </div>
      )}
      {shown && (
        <Lightbox
          title={`${title} example ${(shown.rank % 1000) + 1} · activation ${fmt(shown.activation, 3)} at (y ${shown.y}, x ${shown.x})`}
          onClose={() => setOpen(null)}
          onPrev={open! > 0 ? () => setOpen(open! - 1) : undefined}
          onNext={open! < rows.length - 1 ? () => setOpen(open! + 1) : undefined}
        >
          <div className="lightbox-example">
            <figure>
              <div className="lb-stack">
                <img src={shown.image} alt="whole image" />
                <img className="overlay" src={shown.heatmap} alt="" aria-hidden="true" />
                {shown.box.length === 4 && inputSize > 0 && <RfBox box={shown.box} inputSize={inputSize} />}
              </div>
              <figcaption className="small muted">whole image with the activation map (red +, blue −) and the receptive field</figcaption>
            </figure>
            <figure>
              <div className="lb-stack">
                <img src={shown.image} alt="whole image without overlay" />
              </div>
              <figcaption className="small muted">the image as the model saw it</figcaption>
            </figure>
            <figure>
              <img src={shown.crop} alt="receptive-field crop" className="lb-crop" />
              <figcaption className="small muted">receptive-field crop ({shown.box.length === 4 ? `${shown.box[2] - shown.box[0]}×${shown.box[3] - shown.box[1]} px` : "?"})</figcaption>
            </figure>
          </div>
          <p className="small">
            {shown.ref}
            {shown.label ? ` · class ${shown.label}` : ""} · dataset index {shown.dataset_index} ·{" "}
            <a href={shown.image} target="_blank" rel="noreferrer">
              open the image
            </a>
          </p>
        </Lightbox>
      )}
    </div>
  );
}

function RfBox({ box, inputSize }: { box: number[]; inputSize: number }) {
  return (
    <span
      className="rf-box"
      style={{
        left: `${(100 * box[0]) / inputSize}%`,
        top: `${(100 * box[1]) / inputSize}%`,
        width: `${(100 * (box[2] - box[0])) / inputSize}%`,
        height: `${(100 * (box[3] - box[1])) / inputSize}%`,
      }}
    />
  );
}

/** True when the example's position is on the outermost row or column of the activation map. */
export function isBorderPosition(ex: Example, [h, w]: [number, number]): boolean {
  return ex.y <= 0 || ex.x <= 0 || ex.y >= h - 1 || ex.x >= w - 1;
}
