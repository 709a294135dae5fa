import { GatehouseError } from "@gatehouse/client";

// What to show for a failed call: Gatehouse's message and code, or why the
// request never got an answer (an origin missing from --cors-origins shows
// here as "Failed to fetch").
export function describe(error) {
  if (error instanceof GatehouseError) return `${error.message} (${error.code})`;
  return `${error.message || error}: is Gatehouse running, with this page's origin (${window.location.origin}) in --cors-origins?`;
}
