import { useState, type ReactNode } from "react";
import { Lightbox } from "../../shared/Lightbox";

/** A thumbnail that opens a lightbox with the image at a readable size (a plain click), or the raw file
 * (middle / modified click, as a link). */
export function EnlargeLink({ image, title, caption, children }: { image: string; title: string; caption?: ReactNode; children: ReactNode }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <a
        href={image}
        className="enlarge-link"
        title="click to enlarge"
        onClick={(e) => {
          if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
          e.preventDefault();
          setOpen(true);
        }}
      >
        {children}
      </a>
      {open && (
        <Lightbox title={title} onClose={() => setOpen(false)}>
          <div className="lightbox-single">
            <img src={image} alt={title} />
          </div>
          {caption && <div className="small muted">{caption}</div>}
          <p className="small">
            <a href={image} target="_blank" rel="noreferrer">
              open the file
            </a>
          </p>
        </Lightbox>
      )}
    </>
  );
}
