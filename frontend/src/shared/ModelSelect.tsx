/** The "model" filter of list pages (circuits, search): every model by name, or all of them (""). */
export function ModelSelect({ models, value, onChange }: { models?: { slug: string; name: string }[]; value: string; onChange: (slug: string) => void }) {
  return (
    <select aria-label="model" value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">all models</option>
      {models?.map((m) => (
        <option key={m.slug} value={m.slug}>
          {m.name}
        </option>
      ))}
    </select>
  );
}
