import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { errorMessage } from "../lib/errors.js";
import { useFocusFirstInvalid } from "../lib/forms.js";
import { useTRPC } from "../trpc.js";

/** A user's webhook endpoints: add (the secret is shown once), rotate, disable, delete. */
export function Webhooks() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const endpoints = useQuery(trpc.webhooks.listEndpoints.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.webhooks.listEndpoints.queryKey() });
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [secret, setSecret] = useState<{ label: string; secret: string }>();
  const create = useMutation(
    trpc.webhooks.createEndpoint.mutationOptions({
      onSuccess: (created) => {
        setSecret({ label: "New endpoint's signing secret", secret: created.secret });
        setUrl("");
        setDescription("");
        void refresh();
      },
    }),
  );
  const rotate = useMutation(
    trpc.webhooks.rotateSecret.mutationOptions({
      onSuccess: ({ secret: next }) => {
        setSecret({ label: "New signing secret (the old one keeps signing during the grace period)", secret: next });
        void refresh();
      },
    }),
  );
  const disable = useMutation(trpc.webhooks.disableEndpoint.mutationOptions({ onSuccess: () => void refresh() }));
  const remove = useMutation(trpc.webhooks.deleteEndpoint.mutationOptions({ onSuccess: () => void refresh() }));
  const urlError = create.error?.data?.zodError?.issues.find((i) => i.path[0] === "url")?.message;
  // The browser checks the URL's form before submitting; the server's refusal (say, a private address) marks it too.
  const form = useFocusFirstInvalid(create.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ url, description: description || undefined });
  };
  const error = rotate.error ?? disable.error ?? remove.error;
  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhook endpoints</h1>
      <p className="muted">
        Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). In development,
        point an endpoint at <code>{window.location.origin}/dev/webhooks/demo</code> to receive them here.
      </p>
      <form ref={form} className="card form" onSubmit={submit}>
        <label htmlFor="endpoint-url">URL</label>
        <input
          id="endpoint-url"
          type="url"
          required
          value={url}
          aria-invalid={Boolean(urlError)}
          aria-describedby={urlError ? "endpoint-url-error" : undefined}
          onChange={(e) => setUrl(e.target.value)}
        />
        {urlError && (
          <span className="field-error" id="endpoint-url-error" role="alert">
            {urlError}
          </span>
        )}
        <label htmlFor="endpoint-description">Description (optional)</label>
        <input id="endpoint-description" value={description} onChange={(e) => setDescription(e.target.value)} />
        {create.error && !urlError && <p className="error">{errorMessage(create.error)}</p>}
        <button type="submit" disabled={create.isPending}>
          Add endpoint
        </button>
      </form>
      {secret && (
        <div className="card secret" role="status">
          <p>
            <strong>{secret.label}</strong>: copy it now, it is not shown again.
          </p>
          <code className="mono">{secret.secret}</code>
        </div>
      )}
      {error && <p className="error">{errorMessage(error)}</p>}
      <h2>Endpoints</h2>
      {endpoints.isLoading ? (
        <p className="loading">Loading…</p>
      ) : (endpoints.data ?? []).length === 0 ? (
        <div className="empty">
          <p>No endpoints yet.</p>
        </div>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Description</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {(endpoints.data ?? []).map((e) => (
                <tr key={e.id}>
                  <td className="mono small">{e.url}</td>
                  <td>{e.description}</td>
                  <td>{e.disabled ? "disabled" : "active"}</td>
                  <td className="row-actions">
                    <button type="button" onClick={() => rotate.mutate({ id: e.id })}>
                      Rotate secret
                    </button>
                    {!e.disabled && (
                      <button type="button" onClick={() => disable.mutate({ id: e.id })}>
                        Disable
                      </button>
                    )}
                    <button type="button" onClick={() => remove.mutate({ id: e.id })}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
