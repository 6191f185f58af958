import { useRef, useState } from "react";

/** Edits of one versioned document (a circuit) applied one after another, each on the version the previous
 * one produced: two quick clicks never conflict with each other (a 409 then only means someone else changed
 * it). `pending` counts edits sent or waiting. */
export function useEditQueue<T extends { version: number }>(doc: T | undefined) {
  const version = useRef<number | undefined>(doc?.version);
  // follow the document when it is (re)loaded, unless our own queued edits are ahead of it
  if (doc && (version.current === undefined || doc.version > version.current)) version.current = doc.version;
  const chain = useRef<Promise<unknown>>(Promise.resolve());
  const [pending, setPending] = useState(0);

  /** Queue `edit(version)`; it runs after the edits queued before it, with the newest version. */
  function run<R extends { version: number }>(edit: (version: number) => Promise<R>): Promise<R> {
    setPending((n) => n + 1);
    const next = chain.current.then(async () => {
      const result = await edit(version.current ?? 0);
      version.current = result.version;
      return result;
    });
    chain.current = next.catch(() => undefined).finally(() => setPending((n) => n - 1));
    return next;
  }

  /** After a conflict or a reload, take the server's version as the base again. */
  function reset(v: number) {
    version.current = v;
  }
  return { run, reset, pending };
}
