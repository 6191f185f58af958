import { Link, useLocation } from "react-router-dom";
import { useTitle } from "../../shared/useResource";

export function NotFoundPage() {
  const loc = useLocation();
  useTitle("Not found");
  return (
    <div className="error-box" role="alert">
      <strong>No page at {loc.pathname}</strong>
      <p>
        Pages look like <code>/models/&lt;model&gt;/layers/&lt;layer&gt;/units/&lt;index&gt;</code>.{" "}
        <Link to="/">See all models</Link>.
      </p>
    </div>
  );
}
