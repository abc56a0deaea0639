/** One workflow: its state, progress and step tree, filled in live from the event stream. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo } from "react";
import type { WorkflowNodeView } from "../../../shared/workflows.js";
import { ProgressBar } from "../components/JobProgress.js";
import { WorkflowBadge, WorkflowTree } from "../components/WorkflowTree.js";
import { useJobEvents } from "../hooks/event-stream.js";
import { errorMessage } from "../lib/errors.js";
import { useTRPC } from "../trpc.js";

function jobIdsOf(node: WorkflowNodeView, into = new Set<string>()): Set<string> {
  if (node.jobId) into.add(node.jobId);
  for (const child of node.children) jobIdsOf(child, into);
  return into;
}

export function WorkflowDetail({ workflowId }: { workflowId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const queryKey = trpc.workflows.get.queryKey({ workflowId });
  const workflow = useQuery(trpc.workflows.get.queryOptions({ workflowId }));
  const jobIds = useMemo(() => (workflow.data ? jobIdsOf(workflow.data.tree) : new Set<string>()), [workflow.data]);
  // The workflow's own events (a step settled, new steps enqueued) and its jobs' transitions change the tree.
  useJobEvents((event) => {
    if (event.jobId === workflowId || (event.kind === "transition" && jobIds.has(event.jobId))) {
      void queryClient.invalidateQueries({ queryKey });
    }
  });
  const cancel = useMutation(
    trpc.workflows.cancel.mutationOptions({ onSuccess: (data) => queryClient.setQueryData(queryKey, data) }),
  );
  if (workflow.isLoading) return <p className="loading">Loading…</p>;
  if (workflow.error) return <p className="error">{workflow.error.message}</p>;
  const data = workflow.data;
  if (!data) return null;
  const percent = data.stepsTotal === 0 ? 100 : Math.round((100 * data.stepsDone) / data.stepsTotal);
  const live = data.status === "pending" || data.status === "running";
  return (
    <section aria-labelledby="workflow-title">
      <p>
        <a href="#/workflows">← Workflows</a>
      </p>
      <h1 id="workflow-title">
        <span className="mono">{data.name}</span> <WorkflowBadge status={data.status} />
      </h1>
      <p className="muted mono small">{data.id}</p>
      <ProgressBar
        status={data.status}
        percent={percent}
        ariaLabel={`Steps done ${data.stepsDone} of ${data.stepsTotal}`}
      >
        <span className="progress-label" data-testid="workflow-steps">
          {data.stepsDone} of {data.stepsTotal} steps
        </span>
      </ProgressBar>
      {data.error && (
        <p className="error" role="status">
          {data.error}
        </p>
      )}
      {live && (
        <button type="button" onClick={() => cancel.mutate({ workflowId })} disabled={cancel.isPending}>
          Cancel workflow
        </button>
      )}
      {cancel.error && <p className="error">{errorMessage(cancel.error)}</p>}
      <h2>Steps</h2>
      <WorkflowTree node={data.tree} />
      <h2>Input</h2>
      <pre className="code">{JSON.stringify(data.input, null, 2)}</pre>
      {data.result !== undefined && (
        <>
          <h2>Result</h2>
          <pre className="code">{JSON.stringify(data.result, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
