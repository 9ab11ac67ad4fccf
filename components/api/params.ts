/** Search params as Next hands them to pages. */
export type SearchParams = Promise<Record<string, string | string[] | undefined>>;

/** The first value of a search param (`?rev=a&rev=b` → "a"). */
export const firstParam = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
