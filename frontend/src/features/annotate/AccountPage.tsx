import { useState } from "react";
import { Link } from "react-router-dom";
import { EmptyState } from "../../shared/ErrorBox";
import { errorText } from "../../shared/api/client";
import { formatTime } from "../../shared/format";
import { useResource, useTitle } from "../../shared/useResource";
import { annotateCalls, annotateQueries, useMe, type Role, type UserRow } from "./annotateApi";

export function AccountPage() {
  useTitle("Account");
  const { me } = useMe();
  if (!me) return null;
  if (!me.user)
    return (
      <EmptyState title="Not signed in">
        <p>
          <Link to="/login">Sign in</Link> to manage your API tokens.
        </p>
      </EmptyState>
    );
  return (
    <div>
      <h1>
        {me.user.name} <span className="badge">{me.user.role}</span>
      </h1>
      <p className="muted">
        Signed in via {me.via}
        {me.multi_user ? " (multi-user server)" : ` (single-user mode: requests without credentials act as ${me.local_user})`}.
      </p>
      <Tokens />
      <Sessions />
      {me.user.role === "admin" && <Users />}
    </div>
  );
}

/** Where you are signed in; sign out one browser or all others (a password or role change signs out all). */
function Sessions() {
  const { data, reload } = useResource(annotateQueries.sessions(), { fresh: true });
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (call: () => Promise<unknown>) => {
    setBusy(true);
    setErr(null);
    try {
      await call();
      reload();
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const live = data?.filter((s) => !s.revoked) ?? [];
  return (
    <section className="panel" aria-label="browser sessions">
      <h2>Browser sessions</h2>
      <p className="muted small">Every browser signed in as you. Changing your password or role signs them all out.</p>
      {err && <div className="error-box">{err}</div>}
      {data && live.length === 0 && <p className="muted">No browser session (you are using a token or the local user).</p>}
      {live.length > 0 && (
        <div className="table-scroll">
          <table className="layers" data-testid="sessions">
            <thead>
              <tr>
                <th>prefix</th>
                <th>signed in</th>
                <th>last used</th>
                <th>expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {live.map((s) => (
                <tr key={s.id}>
                  <td className="mono">
                    {s.prefix}… {s.current && <span className="badge">this browser</span>}
                  </td>
                  <td>{formatTime(s.created_at)}</td>
                  <td>{formatTime(s.last_used_at)}</td>
                  <td>{formatTime(s.expires_at)}</td>
                  <td>
                    {!s.current && (
                      <button type="button" className="small" disabled={busy} onClick={() => act(() => annotateCalls.revokeSession(s.id))}>
                        Sign out
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {live.filter((s) => !s.current).length > 0 && (
        <button type="button" disabled={busy} onClick={() => act(annotateCalls.revokeOtherSessions)}>
          Sign out all other sessions
        </button>
      )}
    </section>
  );
}

function Tokens() {
  const { data, reload } = useResource(annotateQueries.tokens(), { fresh: true });
  const [name, setName] = useState("");
  const [fresh, setFresh] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const create = async () => {
    try {
      const t = await annotateCalls.createToken({ name });
      setFresh(t.token ?? null);
      setName("");
      reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  return (
    <section className="panel">
      <h2>API tokens</h2>
      <p className="muted small">
        Send as <code>Authorization: Bearer &lt;token&gt;</code>. The secret is shown once; only a hash is stored.
      </p>
      <div className="row">
        <input aria-label="token name" placeholder="what is it for" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} />
        <button type="button" onClick={create}>
          Create token
        </button>
      </div>
      {fresh && (
        <p className="notice">
          New token (copy it now): <code data-testid="new-token">{fresh}</code>
        </p>
      )}
      {err && <div className="error-box">{err}</div>}
      <table className="layers">
        <thead>
          <tr>
            <th>name</th>
            <th>prefix</th>
            <th>created</th>
            <th>last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.map((t) => (
            <tr key={t.id}>
              <td>{t.name || <span className="muted">(unnamed)</span>}</td>
              <td className="mono">{t.prefix}…</td>
              <td>{formatTime(t.created_at)}</td>
              <td>{formatTime(t.last_used_at)}</td>
              <td>
                {t.revoked ? (
                  <span className="muted">revoked</span>
                ) : (
                  <button type="button" className="small" onClick={() => annotateCalls.revokeToken(t.id).then(reload)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Users() {
  const { data, reload } = useResource(annotateQueries.users(), { fresh: true });
  const [form, setForm] = useState({ name: "", role: "annotator" as Role, password: "" });
  const [err, setErr] = useState<string | null>(null);
  const create = async () => {
    setErr(null);
    try {
      await annotateCalls.createUser({ ...form, display_name: "", password: form.password || null });
      setForm({ name: "", role: "annotator", password: "" });
      reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  const setRole = async (u: UserRow, role: Role) => {
    try {
      await annotateCalls.patchUser(u.name, { role });
      reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  return (
    <section className="panel">
      <h2>Users (admin)</h2>
      <table className="layers">
        <thead>
          <tr>
            <th>name</th>
            <th>role</th>
            <th>password</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {data?.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>
                <select aria-label={`role of ${u.name}`} value={u.role} onChange={(e) => setRole(u, e.target.value as Role)}>
                  <option>viewer</option>
                  <option>annotator</option>
                  <option>admin</option>
                </select>
              </td>
              <td>{u.has_password ? "set" : <span className="muted">none (token only)</span>}</td>
              <td>{formatTime(u.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <input aria-label="new user name" placeholder="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        <select aria-label="new user role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
          <option>viewer</option>
          <option>annotator</option>
          <option>admin</option>
        </select>
        <input
          aria-label="new user password"
          type="password"
          placeholder="password (optional)"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
        />
        <button type="button" onClick={create} disabled={!form.name}>
          Add user
        </button>
      </div>
      {err && <div className="error-box">{err}</div>}
    </section>
  );
}
