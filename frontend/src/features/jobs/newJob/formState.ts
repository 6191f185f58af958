// The "New computation" form's state as one reducer: the model, images, settings and layers, and whether the
// problems are shown yet. Section-local UI state (filters, toggles) stays in the sections.
import { isPattern, matchLayers, type DiscoverOut, type RunDescription } from "../jobsApi";
import {
  buildRunDescription,
  formsFromDescription,
  initialDataset,
  initialModel,
  initialSettings,
  type DatasetForm,
  type ModelForm,
  type Problems,
  type SettingsForm,
} from "./runDescription";

export interface NewJobForm {
  model: ModelForm;
  dataset: DatasetForm;
  settings: SettingsForm;
  /** Layer names and glob patterns, in the order they were chosen. */
  layers: string[];
  /** Problems show once Start (or Discover/Check) was tried. */
  showProblems: boolean;
}

export type FormAction =
  | { type: "model"; patch: Partial<ModelForm> }
  | { type: "dataset"; patch: Partial<DatasetForm> }
  | { type: "settings"; patch: Partial<SettingsForm> }
  | { type: "addLayers"; names: string[] }
  | { type: "removeLayer"; name: string }
  | { type: "clearLayers" }
  /** After Discover: drop chosen names the model does not have (patterns stay, the worker resolves them). */
  | { type: "keepKnownLayers"; known: string[] }
  | { type: "showProblems" };

/** The empty form, or the one that gives back a stored run description ("Run again with changes"). */
export function initialForm(from?: RunDescription): NewJobForm {
  if (from) return { ...formsFromDescription(from), showProblems: false };
  return { model: initialModel, dataset: initialDataset, settings: initialSettings, layers: [], showProblems: false };
}

export function formReducer(state: NewJobForm, action: FormAction): NewJobForm {
  switch (action.type) {
    case "model":
      return { ...state, model: { ...state.model, ...action.patch } };
    case "dataset":
      return { ...state, dataset: { ...state.dataset, ...action.patch } };
    case "settings":
      return { ...state, settings: { ...state.settings, ...action.patch } };
    case "addLayers": {
      const added = action.names.filter((n, i) => !state.layers.includes(n) && action.names.indexOf(n) === i);
      return added.length ? { ...state, layers: [...state.layers, ...added] } : state;
    }
    case "removeLayer":
      return { ...state, layers: state.layers.filter((l) => l !== action.name) };
    case "clearLayers":
      return { ...state, layers: [] };
    case "keepKnownLayers": {
      const known = new Set(action.known);
      return { ...state, layers: state.layers.filter((l) => isPattern(l) || known.has(l)) };
    }
    case "showProblems":
      return state.showProblems ? state : { ...state, showProblems: true };
  }
}

/** The run description the form stands for, and every problem with it (an unknown layer is one once the
 * model's layers are known and current). */
export function describeForm(form: NewJobForm, discovered: DiscoverOut | null): { description: RunDescription; problems: Problems } {
  const out = buildRunDescription(form.model, form.dataset, form.settings, form.layers);
  if (discovered) {
    const names = discovered.layers.map((l) => l.name);
    const unknown = form.layers.filter((l) => !matchLayers([l], names).length);
    if (unknown.length) {
      out.problems.layers =
        `Unknown layer${unknown.length > 1 ? "s" : ""} for this model: ` +
        unknown.map((u) => `'${u}'${isPattern(u) ? " (pattern matches nothing)" : ""}`).join(", ") +
        `. Remove ${unknown.length > 1 ? "them" : "it"} or pick from the list.`;
    }
  }
  return out;
}

/** The discovered layers the chosen names and patterns select, and their units (channels). */
export function selectedLayers(discovered: DiscoverOut | null, layers: string[]): { names: Set<string>; units: number } {
  if (!discovered) return { names: new Set(), units: 0 };
  const names = new Set(matchLayers(layers, discovered.layers.map((l) => l.name)));
  const units = discovered.layers.filter((l) => names.has(l.name)).reduce((a, l) => a + (l.channels ?? 0), 0);
  return { names, units };
}

/** The problem with the value named `key`, if it is to be shown now (what a section gets to label its fields). */
export type ProblemOf = (key: string) => string | undefined;
