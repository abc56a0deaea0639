/**
 * One live jobs.events stream for the whole app, fanned out to the hooks. The
 * link resumes from the last event id after a drop, so the views rebuilt from
 * events match the database; a PRECONDITION_FAILED (history pruned past our
 * position) refetches everything and starts over. A refusal (TOO_MANY_REQUESTS:
 * the user has MAX_STREAMS_PER_USER streams open, in other tabs) is final, and
 * its code is kept so the banner can say what to do.
 */
import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from "react";
import type { JobEvent } from "../../../shared/events.js";
import { useTRPCClient } from "../trpc.js";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "failed";

interface EventStream {
  connection: ConnectionState;
  error: string | undefined;
  /** The tRPC code the stream failed with (`TOO_MANY_REQUESTS`: too many tabs), when it failed. */
  errorCode: string | undefined;
  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  onEvent: (listener: (event: JobEvent) => void) => () => void;
}

const EventStreamContext = createContext<EventStream | undefined>(undefined);

export function EventStreamProvider({ children }: { children: ReactNode }) {
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const listeners = useRef(new Set<(event: JobEvent) => void>());
  const [connection, setConnection] = useState<ConnectionState>("connecting");
  const [error, setError] = useState<string>();
  const [errorCode, setErrorCode] = useState<string>();
  const [generation, setGeneration] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new generation restarts the stream from scratch
  useEffect(() => {
    let everLive = false;
    const subscription = client.jobs.events.subscribe(
      {},
      {
        onStarted: () => {
          if (everLive) void queryClient.invalidateQueries(); // caught up after a drop: refresh the figures too
          everLive = true;
          setConnection("live");
          setError(undefined);
          setErrorCode(undefined);
        },
        onData: ({ data }) => {
          for (const listener of listeners.current) listener(data);
        },
        onConnectionStateChange: (state) => {
          if (state.state === "connecting" && everLive) {
            setConnection("reconnecting");
            setError(state.error?.message);
          }
        },
        onError: (cause) => {
          if (cause.data?.code === "PRECONDITION_FAILED") {
            void queryClient.invalidateQueries();
            setGeneration((g) => g + 1);
            return;
          }
          setConnection("failed");
          setError(cause.message);
          setErrorCode(cause.data?.code);
        },
      },
    );
    return () => subscription.unsubscribe();
  }, [client, queryClient, generation]);

  const value: EventStream = {
    connection,
    error,
    errorCode,
    onEvent: (listener) => {
      listeners.current.add(listener);
      return () => listeners.current.delete(listener);
    },
  };
  return <EventStreamContext.Provider value={value}>{children}</EventStreamContext.Provider>;
}

export function useEventStream(): EventStream {
  const stream = useContext(EventStreamContext);
  if (!stream) throw new Error("useEventStream needs <EventStreamProvider> above it");
  return stream;
}

/** Runs `listener` for every live event while the component is mounted. */
export function useJobEvents(listener: (event: JobEvent) => void): void {
  const { onEvent } = useEventStream();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => onEvent((event) => latest.current(event)), [onEvent]);
}
