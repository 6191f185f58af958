// Where a refusal of Start (403/422) is shown: next to the part of the form it is about, and under Start.
import { ApiError } from "../../../shared/api/client";

export type FormPlace = "model" | "dataset" | "layers" | "settings" | "form";

/** Which part of the form a server error is about, from its message. */
export function refusalPlace(err: unknown): FormPlace {
  const msg = err instanceof Error ? err.message : String(err);
  if (/\bdataset\b/i.test(msg)) return "dataset";
  if (/\bmodel (path|weights_file|class_names|factory)\b|factory/i.test(msg)) return "model";
  if (/\blayers?\b/i.test(msg) && !/unknown key/i.test(msg)) return "layers";
  return "form";
}

/** The title of the refusal under Start. */
export function refusalTitle(err: unknown): string | undefined {
  if (err instanceof ApiError && err.status === 403) return "Not allowed";
  if (err instanceof ApiError && err.status === 422) return "The server refused this run description";
  return undefined;
}

/** The refusal if it is about `place`, else null (for a section's own error box). */
export function refusalFor(err: unknown, place: FormPlace): unknown {
  return err !== null && refusalPlace(err) === place ? err : null;
}
