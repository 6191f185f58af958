import { NavLink, useNavigate } from "react-router-dom";
import { afterWrite } from "../../shared/api/client";
import { annotateCalls, refreshMe, useMe } from "./annotateApi";

/** Top bar items: search, queue, circuits, families, exchange, and who you are (sign in / out). */
export function NavExtras() {
  const { me } = useMe();
  const navigate = useNavigate();
  const signOut = async () => {
    await annotateCalls.logout().catch(() => undefined);
    await refreshMe();
    afterWrite();
    navigate("/");
  };
  return (
    <>
      <NavLink to="/search">Search</NavLink>
      <NavLink to="/queue">Label queue</NavLink>
      <NavLink to="/circuits">Circuits</NavLink>
      <NavLink to="/families">Families</NavLink>
      <NavLink to="/exchange">Export / import</NavLink>
      <span className="nav-spacer" />
      {me?.user ? (
        <span className="whoami" data-testid="whoami">
          <NavLink to="/account" title={`signed in via ${me.via}`}>
            {me.user.name}
          </NavLink>{" "}
          <span className="badge">{me.user.role}</span>
          {me.via === "cookie" && (
            <button type="button" className="small" onClick={signOut}>
              Sign out
            </button>
          )}
          {me.via === "local" && (
            <NavLink to="/login" className="small muted" title="Local single-user mode; sign in as another user">
              switch user
            </NavLink>
          )}
        </span>
      ) : me ? (
        <NavLink to="/login" data-testid="signin-link">
          Sign in
        </NavLink>
      ) : null}
    </>
  );
}
