/** A GET that follows its path: loading, the answer or the error, and a way to load again. */
import { useCallback, useEffect, useState } from 'react';
import { getJson } from '../api.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** `path` null: nothing to load. A changed path aborts the older request. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | null; loading: boolean }>({
    data: undefined,
    error: null,
    loading: path !== null,
  });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: generation is the reload trigger
  useEffect(() => {
    if (path === null) return;
    const ctrl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    getJson<T>(path, ctrl.signal).then(
      (data) => {
        if (!ctrl.signal.aborted) setState({ data, error: null, loading: false });
      },
      (e: unknown) => {
        if (!ctrl.signal.aborted) setState((s) => ({ ...s, error: (e as Error).message, loading: false }));
      },
    );
    return () => ctrl.abort();
  }, [path, generation]);
  return { ...state, reload };
}
