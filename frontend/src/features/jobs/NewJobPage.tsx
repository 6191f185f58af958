import { useMemo, useReducer, useRef } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { useTitle } from "../../shared/useResource";
import { jobCalls, jobPaths, type RunDescription } from "./jobsApi";
import { useAsyncAction } from "../../shared/useAsyncAction";
import { DatasetSection } from "./newJob/DatasetSection";
import { describeForm, formReducer, initialForm, selectedLayers } from "./newJob/formState";
import { LayersSection, type LayerChoice } from "./newJob/LayersSection";
import { ModelSection } from "./newJob/ModelSection";
import { RunPreview } from "./newJob/RunPreview";
import { defaultSlug, modelSpec, type Problems } from "./newJob/runDescription";
import { refusalFor } from "./newJob/serverRefusal";
import { SettingsSection } from "./newJob/SettingsSection";
import { StartSection } from "./newJob/StartSection";

/** "New computation": model source, layers, dataset, settings -> a run description -> POST /api/jobs. */
export function NewJobPage() {
  useTitle("New computation");
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: RunDescription } | null)?.from;
  const [form, dispatch] = useReducer(formReducer, from, initialForm);
  const startRef = useRef<HTMLDivElement>(null);

  const modelKey = JSON.stringify(modelSpec(form.model));
  const discovery = useAsyncAction(async (spec: Record<string, unknown>) => {
    const layers = await jobCalls.discoverLayers(spec);
    dispatch({ type: "keepKnownLayers", known: layers.layers.map((l) => l.name) });
    return { layers, key: JSON.stringify(spec) };
  });
  const discovered = discovery.result?.layers ?? null;
  const stale = discovery.result !== null && discovery.result.key !== modelKey;
  const current = stale ? null : discovered; // the layers of the model as it is now

  const { description, problems } = useMemo(() => describeForm(form, current), [form, current]);
  const hasProblems = Object.keys(problems).length > 0;
  // An unknown layer shows as soon as it is typed; the other problems once Start (or Discover/Check) was tried.
  const problem = (key: string): string | undefined =>
    form.showProblems || (key === "layers" && form.layers.length > 0) ? problems[key] : undefined;
  const slug = form.settings.slug.trim() || defaultSlug(modelSpec(form.model));

  const submit = useAsyncAction(async (body: RunDescription) => {
    const job = await jobCalls.create(body);
    navigate(jobPaths.job(job.id));
    return job;
  });
  // Stays "Starting…" from the request until the job page replaces this one.
  const submitting = submit.pending || submit.result !== null;

  function discover() {
    const local: Problems = {};
    const spec = modelSpec(form.model, local);
    if (Object.keys(local).length) dispatch({ type: "showProblems" });
    else void discovery.run(spec);
  }

  function start() {
    dispatch({ type: "showProblems" });
    submit.reset();
    if (hasProblems) startRef.current?.scrollIntoView({ block: "nearest" });
    else void submit.run(description);
  }

  const choose: LayerChoice = {
    add: (names) => dispatch({ type: "addLayers", names }),
    remove: (name) => dispatch({ type: "removeLayer", name }),
    clear: () => dispatch({ type: "clearLayers" }),
  };

  return (
    <div className="new-job-page">
      <nav className="crumbs">
        <Link to={jobPaths.list()}>Computations</Link> ›
      </nav>
      <h1>New computation</h1>
      <p className="muted">
        Pick a model and images; circuitscope computes dataset examples, feature visualizations and weights for the
        layers you choose. Files are chosen from the folders this server allows; the work runs in{" "}
        <code>circuitscope worker</code>, and you can watch it on the job page.
      </p>

      <div className="job-form">
        <div className="job-form-main">
          <ModelSection
            model={form.model}
            onChange={(patch) => dispatch({ type: "model", patch })}
            problem={problem}
            discovery={{ layers: discovered, pending: discovery.pending, error: discovery.error }}
            stale={stale}
            onDiscover={discover}
            refusal={refusalFor(submit.error, "model")}
          />
          <LayersSection layers={form.layers} choose={choose} discovered={discovered} problem={problem("layers")} refusal={refusalFor(submit.error, "layers")} />
          <DatasetSection
            dataset={form.dataset}
            onChange={(patch) => dispatch({ type: "dataset", patch })}
            problem={problem}
            onInvalid={() => dispatch({ type: "showProblems" })}
            refusal={refusalFor(submit.error, "dataset")}
          />
          <SettingsSection
            settings={form.settings}
            onChange={(patch) => dispatch({ type: "settings", patch })}
            problem={problem}
            slugPlaceholder={defaultSlug(modelSpec(form.model))}
          />
          <StartSection
            ref={startRef}
            description={description}
            problems={problems}
            showProblems={form.showProblems}
            units={current ? selectedLayers(current, form.layers).units : null}
            slug={slug}
            submitting={submitting}
            error={submit.error}
            onStart={start}
          />
        </div>
        <RunPreview description={description} />
      </div>
    </div>
  );
}
