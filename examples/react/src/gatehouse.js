import { GatehouseClient } from "@gatehouse/client";

// Gatehouse's URL, fixed at build time: VITE_GATEHOUSE_URL=https://auth.example.com npm run build
export const gatehouseURL = import.meta.env.VITE_GATEHOUSE_URL ?? "http://127.0.0.1:8080";

// One client for the whole app. The session lives in memory (the default):
// a reload signs out unless another tab of the app is open, and nothing is
// left in the browser. localStorageStore() would keep it, at the XSS cost
// clients/js/README.md describes.
export const gatehouse = new GatehouseClient({ url: gatehouseURL });
