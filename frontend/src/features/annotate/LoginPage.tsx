import { useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { afterWrite, errorText } from "../../shared/api/client";
import { annotateCalls, refreshMe, useMe } from "./annotateApi";
import { useTitle } from "../../shared/useResource";

export function LoginPage() {
  useTitle("Sign in");
  const { me } = useMe();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      await annotateCalls.login({ name, password });
      await refreshMe();
      afterWrite();
      navigate(params.get("next") || "/");
    } catch (e2) {
      setErr(errorText(e2));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="narrow">
      <h1>Sign in</h1>
      {me?.via === "local" && (
        <p className="notice">
          This server runs in single-user mode: without signing in you act as <b>{me.local_user}</b>. Sign in to act as someone else.
        </p>
      )}
      {me && !me.anonymous_read && !me.user && <p className="notice">This server needs you to sign in even to read.</p>}
      <form className="stack" onSubmit={submit}>
        <label>
          User name
          <input name="username" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} autoFocus required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <button type="submit" disabled={busy || !name || !password}>
          Sign in
        </button>
        {err && <div className="error-box">{err}</div>}
      </form>
      <p className="muted small">
        Accounts are made by an admin: <code>circuitscope users create NAME --role annotator --prompt</code>
      </p>
    </div>
  );
}
