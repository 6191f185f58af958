// Review and start: the cost estimate and Start (StartGuard), what to fix first, and the server's refusal.
import { forwardRef } from "react";
import { ErrorBox } from "../../../shared/ErrorBox";
import type { RunDescription } from "../jobsApi";
import { StartGuard } from "../StartGuard";
import type { Problems } from "./runDescription";
import { refusalTitle } from "./serverRefusal";

export const StartSection = forwardRef<
  HTMLDivElement,
  {
    description: RunDescription;
    problems: Problems;
    showProblems: boolean;
    /** Units of the selected layers; null until the model's current layers are known. */
    units: number | null;
    slug: string;
    submitting: boolean;
    /** Start's refusal (403/422) or network error, null when none. */
    error: unknown;
    onStart: () => void;
  }
>(function StartSection({ description, problems, showProblems, units, slug, submitting, error, onStart }, ref) {
  const problemList = Object.entries(problems);
  return (
    <>
      <div className="start-row" ref={ref}>
        <StartGuard description={description} units={units} slug={slug} submitting={submitting} hasProblems={problemList.length > 0} onStart={onStart} />
        {showProblems && problemList.length > 0 && (
          <div className="field-problem" role="alert" data-testid="form-problems">
            Fix first: {problemList.map(([k, v]) => `${k}: ${v}`).join("; ")}
          </div>
        )}
      </div>
      {error !== null && <ErrorBox error={error} title={refusalTitle(error)} />}
    </>
  );
});
