// React bindings: a provider that hands one GatehouseClient to the tree, and
// hooks that read it. useUser re-renders on every sign-in, refresh and
// sign-out, in this tab or another. React is an optional peer dependency:
// only this entry point (@gatehouse/client/react) imports it.
import { createContext, createElement, useCallback, useContext, useSyncExternalStore } from "react";
import type { ReactElement, ReactNode } from "react";
import type { GatehouseClient, User } from "./index.js";

const GatehouseContext = createContext<GatehouseClient | null>(null);

export interface GatehouseProviderProps {
  /** One client for the app, created once (outside the component, or in a module). */
  client: GatehouseClient;
  children?: ReactNode;
}

/** Makes client available to useGatehouse and useUser below it. */
export function GatehouseProvider({ client, children }: GatehouseProviderProps): ReactElement {
  return createElement(GatehouseContext.Provider, { value: client }, children);
}

/** The client of the nearest GatehouseProvider. */
export function useGatehouse(): GatehouseClient {
  const client = useContext(GatehouseContext);
  if (!client) throw new Error("useGatehouse: no <GatehouseProvider client={...}> above this component");
  return client;
}

/** The signed-in user, or null; the component re-renders when that changes. */
export function useUser(): User | null {
  const client = useGatehouse();
  const subscribe = useCallback((onStoreChange: () => void) => client.onChange(onStoreChange), [client]);
  const user = () => client.user; // the same object until the session changes
  return useSyncExternalStore(subscribe, user, user);
}
