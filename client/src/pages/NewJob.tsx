import { useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type JobType, jobTypes } from "../../../shared/jobs.js";
import { errorMessage } from "../lib/errors.js";
import {
  buildEnqueueRequest,
  type EnqueueOptionsForm,
  type FieldErrors,
  type FieldSpec,
  jobForms,
  useFocusFirstInvalid,
} from "../lib/forms.js";
import { useTRPC } from "../trpc.js";

const emptyOptions: EnqueueOptionsForm = { idempotencyKey: "", runAt: "", priority: "" };

export function NewJob() {
  const trpc = useTRPC();
  const [type, setType] = useState<JobType>(jobTypes[0]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [options, setOptions] = useState(emptyOptions);
  const [errors, setErrors] = useState<FieldErrors>({});
  const form = useFocusFirstInvalid(errors);
  const endpoints = useQuery(trpc.webhooks.listEndpoints.queryOptions());
  const enqueue = useMutation(
    trpc.jobs.enqueue.mutationOptions({
      onSuccess: ({ jobId }) => {
        window.location.hash = `#/jobs/${jobId}`;
      },
      onError: (error) => {
        // The server validates with the same schema; show its field errors the same way.
        const issues = error.data?.zodError?.issues ?? [];
        setErrors(Object.fromEntries(issues.map((i) => [i.path.slice(1).join(".") || String(i.path[0]), i.message])));
      },
    }),
  );

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const built = buildEnqueueRequest(type, values, options);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    enqueue.mutate(built.request);
  };

  const fieldError = (name: string) =>
    errors[name] ? (
      <span className="field-error" id={`${name}-error`} role="alert">
        {errors[name]}
      </span>
    ) : null;

  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">Start a job</h1>
      <form ref={form} className="card form" onSubmit={submit} noValidate>
        <label htmlFor="job-type">Job type</label>
        <select
          id="job-type"
          value={type}
          onChange={(e) => {
            setType(e.target.value as JobType);
            setErrors({});
          }}
        >
          {jobTypes.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        {jobForms[type].map((field) => (
          <div key={field.name} className={field.input === "checkbox" ? "field field-inline" : "field"}>
            <label htmlFor={field.name}>
              {field.label}
              {field.optional && field.input !== "checkbox" ? <span className="muted"> (optional)</span> : null}
            </label>
            <FieldInput
              field={field}
              value={values[field.name] ?? ""}
              invalid={Boolean(errors[field.name])}
              endpoints={endpoints.data ?? []}
              onChange={(value) => setValues({ ...values, [field.name]: value })}
            />
            {fieldError(field.name)}
          </div>
        ))}
        {type === "webhook" && (endpoints.data ?? []).length === 0 && (
          <p className="muted">
            No endpoints yet: <a href="#/webhooks">add one</a> first.
          </p>
        )}
        <fieldset>
          <legend>Options</legend>
          <div className="field">
            <label htmlFor="idempotencyKey">Idempotency key</label>
            <input
              id="idempotencyKey"
              value={options.idempotencyKey}
              onChange={(e) => setOptions({ ...options, idempotencyKey: e.target.value })}
            />
            {fieldError("idempotencyKey")}
          </div>
          <div className="field">
            <label htmlFor="runAt">Run at</label>
            <input
              id="runAt"
              type="datetime-local"
              value={options.runAt}
              onChange={(e) => setOptions({ ...options, runAt: e.target.value })}
            />
            {fieldError("runAt")}
          </div>
          <div className="field">
            <label htmlFor="priority">Priority (lower runs first)</label>
            <input
              id="priority"
              type="number"
              value={options.priority}
              onChange={(e) => setOptions({ ...options, priority: e.target.value })}
            />
            {fieldError("priority")}
          </div>
        </fieldset>
        {enqueue.error && !enqueue.error.data?.zodError && (
          <p className="error" role="alert">
            {errorMessage(enqueue.error)}
          </p>
        )}
        <button type="submit" disabled={enqueue.isPending}>
          {enqueue.isPending ? "Starting…" : "Start job"}
        </button>
      </form>
    </section>
  );
}

function FieldInput({
  field,
  value,
  invalid,
  endpoints,
  onChange,
}: {
  field: FieldSpec;
  value: string;
  invalid: boolean;
  endpoints: { id: string; url: string; description: string | null; disabled: boolean }[];
  onChange: (value: string) => void;
}) {
  const common = {
    id: field.name,
    "aria-invalid": invalid,
    "aria-describedby": invalid ? `${field.name}-error` : undefined,
  };
  switch (field.input) {
    case "textarea":
    case "json":
      return <textarea {...common} rows={4} value={value} onChange={(e) => onChange(e.target.value)} />;
    case "checkbox":
      return (
        <input
          {...common}
          type="checkbox"
          checked={value === "true"}
          onChange={(e) => onChange(String(e.target.checked))}
        />
      );
    case "datetime":
      return <input {...common} type="datetime-local" value={value} onChange={(e) => onChange(e.target.value)} />;
    case "select": {
      const options =
        field.name === "endpointId"
          ? endpoints.filter((e) => !e.disabled).map((e) => ({ value: e.id, label: e.description || e.url }))
          : (field.options ?? []).map((o) => ({ value: o, label: o }));
      return (
        <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">{field.optional ? "any" : "choose…"}</option>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      );
    }
    default:
      return <input {...common} type={field.input} value={value} onChange={(e) => onChange(e.target.value)} />;
  }
}
