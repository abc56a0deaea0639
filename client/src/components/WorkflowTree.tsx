/** A workflow's step tree: shapes as nested lists, each task with its state and a link to its job. */
import type { StepStatus, WorkflowNodeView, WorkflowStatus } from "../../../shared/workflows.js";

export function WorkflowBadge({ status }: { status: WorkflowStatus | StepStatus }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

export function WorkflowTree({ node }: { node: WorkflowNodeView }) {
  return (
    <ul className="wf-tree" aria-label="Steps">
      <WorkflowNode node={node} />
    </ul>
  );
}

function WorkflowNode({ node }: { node: WorkflowNodeView }) {
  return (
    <li className={`wf-node wf-${node.kind}`} data-path={node.path} data-status={node.status}>
      <div className="wf-line">
        {node.callback && <span className="muted small">then </span>}
        {node.kind === "task" ? (
          node.jobId ? (
            <a href={`#/jobs/${node.jobId}`} className="mono">
              {node.label}
            </a>
          ) : (
            <span className="mono">{node.label}</span>
          )
        ) : (
          <strong className="wf-shape">{node.label}</strong>
        )}{" "}
        <WorkflowBadge status={node.status} />
        {node.kind === "task" && node.error && <div className="error small">{node.error}</div>}
      </div>
      {node.children.length > 0 && (
        <ul>
          {node.children.map((child) => (
            <WorkflowNode key={child.path} node={child} />
          ))}
        </ul>
      )}
    </li>
  );
}
