// Links of the browser pages (stable, shareable). API paths live in the generated client (api/schema.d.ts).
const enc = encodeURIComponent;

export const pagePaths = {
  home: () => `/`,
  model: (model: string) => `/models/${enc(model)}`,
  layer: (model: string, layer: string) => `/models/${enc(model)}/layers/${enc(layer)}`,
  unit: (model: string, layer: string, index: number) => `/models/${enc(model)}/layers/${enc(layer)}/units/${index}`,
};
