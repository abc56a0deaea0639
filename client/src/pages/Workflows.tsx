/** Workflows: start a shipped one with its typed input, and the list of yours, live. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type WorkflowName, workflowNames } from "../../../shared/workflows.js";
import { WorkflowBadge } from "../components/WorkflowTree.js";
import { useJobEvents } from "../hooks/event-stream.js";
import { errorMessage } from "../lib/errors.js";
import { type FieldErrors, useFocusFirstInvalid } from "../lib/forms.js";
import { buildStartRequest, workflowForms } from "../lib/workflow-forms.js";
import { useTRPC } from "../trpc.js";

export function Workflows() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.workflows.list.queryOptions({}));
  // A workflow event changes a row's state or progress: read the list again.
  useJobEvents((event) => {
    if (event.kind === "workflow") void queryClient.invalidateQueries({ queryKey: trpc.workflows.list.queryKey() });
  });
  return (
    <section aria-labelledby="workflows-title">
      <h1 id="workflows-title">Workflows</h1>
      <p className="muted">
        Chains, groups and chords of jobs, declared in server/workflows/. Each step's payload is built from the
        workflow's input and the results before it.
      </p>
      <StartWorkflow />
      <h2>Your workflows</h2>
      {list.isLoading ? (
        <p className="loading">Loading…</p>
      ) : list.error ? (
        <p className="error">{errorMessage(list.error)}</p>
      ) : (list.data?.items ?? []).length === 0 ? (
        <p className="muted">None yet: start one above.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Workflow</th>
                <th scope="col">State</th>
                <th scope="col">Steps</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {list.data?.items.map((workflow) => (
                <tr key={workflow.id} data-workflow={workflow.id}>
                  <td>
                    <a className="mono" href={`#/workflows/${workflow.id}`}>
                      {workflow.name}
                    </a>
                    {workflow.error && <div className="muted small">{workflow.error}</div>}
                  </td>
                  <td>
                    <WorkflowBadge status={workflow.status} />
                  </td>
                  <td className="nowrap" data-testid="steps">
                    {workflow.stepsDone} / {workflow.stepsTotal}
                  </td>
                  <td>
                    <time dateTime={workflow.createdAt.toISOString()}>{workflow.createdAt.toLocaleString()}</time>
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

function StartWorkflow() {
  const trpc = useTRPC();
  const definitions = useQuery(trpc.workflows.definitions.queryOptions());
  const endpoints = useQuery(trpc.webhooks.listEndpoints.queryOptions());
  const [name, setName] = useState<WorkflowName>(workflowNames[0]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<FieldErrors>({});
  const form = useFocusFirstInvalid(errors);
  const start = useMutation(
    trpc.workflows.start.mutationOptions({
      onSuccess: ({ workflowId }) => {
        window.location.hash = `#/workflows/${workflowId}`;
      },
      onError: (error) => {
        // Issues come as ["input", field, ...]; a field error shows under its field.
        const issues = error.data?.zodError?.issues ?? [];
        setErrors(
          issues.length > 0
            ? Object.fromEntries(
                issues.map((i) => [String(i.path[1] ?? (i.path[0] === "input" ? "form" : i.path[0])), i.message]),
              )
            : { form: errorMessage(error) },
        );
      },
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const built = buildStartRequest(name, values);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    start.mutate(built.request);
  };
  const description = definitions.data?.find((d) => d.name === name)?.description;
  return (
    <form ref={form} className="card form" onSubmit={submit} noValidate aria-label="Start a workflow">
      <label htmlFor="workflow-name">Workflow</label>
      <select
        id="workflow-name"
        value={name}
        onChange={(e) => {
          setName(e.target.value as WorkflowName);
          setErrors({});
        }}
      >
        {workflowNames.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
      {description && <p className="muted small">{description}</p>}
      {workflowForms[name].map((field) => {
        const id = `wf-${field.name}`;
        const value = values[field.name] ?? "";
        const set = (v: string) => setValues({ ...values, [field.name]: v });
        const invalid = Boolean(errors[field.name]);
        return (
          <div key={field.name} className="field">
            <label htmlFor={id}>
              {field.label}
              {field.hint && <span className="muted"> ({field.hint})</span>}
            </label>
            {field.input === "textarea" ? (
              <textarea id={id} rows={3} value={value} aria-invalid={invalid} onChange={(e) => set(e.target.value)} />
            ) : field.input === "select" ? (
              <select id={id} value={value || field.options?.[0]} onChange={(e) => set(e.target.value)}>
                {field.options?.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            ) : field.input === "endpoint" ? (
              <select id={id} value={value} aria-invalid={invalid} onChange={(e) => set(e.target.value)}>
                <option value="">Choose an endpoint…</option>
                {(endpoints.data ?? []).map((endpoint) => (
                  <option key={endpoint.id} value={endpoint.id}>
                    {endpoint.description ? `${endpoint.description} · ` : ""}
                    {endpoint.url}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={id}
                type={field.input}
                value={value}
                aria-invalid={invalid}
                onChange={(e) => set(e.target.value)}
              />
            )}
            {errors[field.name] && (
              <span className="field-error" role="alert">
                {errors[field.name]}
              </span>
            )}
          </div>
        );
      })}
      {name === "exports_then_webhook" && (endpoints.data ?? []).length === 0 && (
        <p className="muted">
          No endpoints yet: <a href="#/webhooks">add one</a> first.
        </p>
      )}
      {errors.form && (
        <p className="error" role="alert">
          {errors.form}
        </p>
      )}
      <button type="submit" disabled={start.isPending}>
        Start workflow
      </button>
    </form>
  );
}
