import type { ReactNode } from "react";

/** A titled group of fields: a panel <section> labelled by its heading (a <fieldset>'s legend would sit on the
 * panel's border). `id` makes the group addressable (#model, #dataset) for links, tests and scrolling. */
export function FieldSet({ title, id, className, children }: { title: string; id: string; className?: string; children: ReactNode }) {
  return (
    <section className={`panel${className ? ` ${className}` : ""}`} id={id} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{title}</h2>
      {children}
    </section>
  );
}
