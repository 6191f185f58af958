// Browse: models -> layers -> units (the Microscope views), every page with a stable, shareable link:
//   /                                               models and their layers
//   /models/:model                                  one model
//   /models/:model/layers/:layer                    the layer grid (layer = dotted module name)
//   /models/:model/layers/:layer/units/:index       one unit
import { NavLink } from "react-router-dom";
import type { Feature } from "../../shared/feature";
import { LayerPage } from "./LayerPage";
import { ModelPage } from "./ModelPage";
import { ModelsPage } from "./ModelsPage";
import { UnitPage } from "./UnitPage";

function ModelsNavItem() {
  return (
    <NavLink to="/" end>
      Models
    </NavLink>
  );
}

export const browseFeature: Feature = {
  name: "browse",
  routes: [
    { index: true, element: <ModelsPage /> },
    { path: "models/:model", element: <ModelPage /> },
    { path: "models/:model/layers/:layer", element: <LayerPage /> },
    { path: "models/:model/layers/:layer/units/:index", element: <UnitPage /> },
  ],
  nav: [ModelsNavItem],
};
